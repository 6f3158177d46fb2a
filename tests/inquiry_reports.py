"""Shared by the format and layout tests: a fictional inquiry's words, and ways to load a
report and to ask the bot about it."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.app import Config, build_bot, build_services
from bot.documents import load_corpus
from bot.messages import ChatKind, ChatRef, IncomingMessage, Reply, SenderRef
from bot.model import Corpus

BODY = (
    "The inquiry heard from forty witnesses and read the records of the council, the water "
    "company and the agency over nine weeks of hearings in the town hall."
)


def load(folder: Path, name: str, content: str | bytes, kind: str = "report") -> Corpus:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps({"kind": kind}))
    return load_corpus(folder)


def titles(items: tuple[object, ...]) -> list[str]:
    return [item.title for item in items]


def structure_of(tmp_path: Path, text: str) -> Corpus:
    """A plain-text report with `text`, loaded."""
    return load(tmp_path, "report.txt", text)


async def ask(folder: Path, text: str) -> Reply:
    bot = build_bot(build_services(Config(corpus_dir=folder, cache_dir=None, db_path=None)))
    room = ChatRef("console", "c", ChatKind.PRIVATE)
    reply = await bot.handle(IncomingMessage(room, SenderRef("r", "Reader"), text))
    assert reply is not None
    return reply
