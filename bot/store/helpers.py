"""Helpers every store uses: UTC times, a document's text hash, replies as JSON."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.messages import Button, Citation, Item, Reply, Result, Span


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: stores need aware times")
    return moment.astimezone(UTC)


def text_hash(text: str) -> str:
    """Identifies a document's text, ignoring case and how its white space runs."""
    folded = re.sub(r"\s+", " ", text).strip().lower()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def reply_to_json(reply: Reply) -> str:
    """A compact, lossless JSON form of a reply (defaults left out) for the outbox."""
    data: dict[str, Any] = {"lines": [[_span_to_list(s) for s in line] for line in reply.lines]}
    if reply.citations:
        data["citations"] = [_without_none(vars(c)) for c in reply.citations]
    if reply.buttons:
        data["buttons"] = [[[b.label, b.payload] for b in row] for row in reply.buttons]
    if reply.items:
        data["items"] = [vars(i) for i in reply.items]
    if reply.results:
        data["results"] = [{**vars(r), "also_in": list(r.also_in)} for r in reply.results]
    if (reply.page, reply.pages) != (1, 1):
        data["page"], data["pages"] = reply.page, reply.pages
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def reply_from_json(text: str) -> Reply:
    data = json.loads(text)
    return Reply(
        lines=tuple(tuple(_span_from_list(s) for s in line) for line in data["lines"]),
        citations=tuple(Citation(**c) for c in data.get("citations", ())),
        buttons=tuple(tuple(Button(b[0], b[1]) for b in row) for row in data.get("buttons", ())),
        items=tuple(Item(**i) for i in data.get("items", ())),
        results=tuple(
            Result(**{**r, "also_in": tuple(r["also_in"])}) for r in data.get("results", ())
        ),
        page=data.get("page", 1),
        pages=data.get("pages", 1),
    )


def _span_to_list(span: Span) -> list[Any]:
    """[text, flags, link]: flags is a string of b/i/c; trailing defaults dropped."""
    flags = ("b" if span.bold else "") + ("i" if span.italic else "") + ("c" if span.code else "")
    if span.link is not None:
        return [span.text, flags, span.link]
    return [span.text, flags] if flags else [span.text]


def _span_from_list(raw: list[Any]) -> Span:
    flags = raw[1] if len(raw) > 1 else ""
    link = raw[2] if len(raw) > 2 else None
    return Span(raw[0], bold="b" in flags, italic="i" in flags, code="c" in flags, link=link)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
