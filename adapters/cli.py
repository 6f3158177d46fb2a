"""``inquiry-bot``: the command-line entry point. The only place that configures logging."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from adapters.app import (
    PLATFORM_TOKENS,
    Config,
    build_bot,
    missing_tokens,
    open_services,
    platform_moderators,
)
from adapters.cli_db import register as register_db
from adapters.cli_store import DeliveryWiring, register
from adapters.console import ConsoleChat
from adapters.storage.urls import describe
from bot.errors import BotError
from bot.services import Services

logger = logging.getLogger(__name__)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--corpus",
        metavar="DIR",
        help="folder of documents: .txt, .md, .pdf, .html, .docx (default: built-in)",
    )
    common.add_argument(
        "--db", metavar="DB", help="a SQLite file (the default) or a postgresql:// URL"
    )
    common.add_argument(
        "--no-cache", action="store_true", help="do not cache the search index or documents"
    )
    common.add_argument(
        "--log-level",
        default=os.environ.get("INQUIRY_BOT_LOG_LEVEL", "WARNING"),
        help="DEBUG, INFO, WARNING (default) or ERROR",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inquiry-bot", description="A chat bot for public inquiry briefings."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()
    chat = sub.add_parser("chat", parents=[common], help="chat in the terminal")
    chat.add_argument("--chat", default="console", metavar="ID", help="console chat id")
    chat.add_argument("--json", action="store_true", help="one JSON object a line")
    ask = sub.add_parser("ask", parents=[common], help="answer one message and exit")
    ask.add_argument("message", nargs="+", help="a question or a command")
    ask.add_argument("--chat", default="console", metavar="ID", help="console chat id")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    for command in (chat, ask):
        command.set_defaults(func=_chat)
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="run on Telegram and/or Discord (whichever tokens are set) with digests",
    )
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="only answer messages; another process (or cron `digests`) sends the digests",
    )
    serve.set_defaults(func=_serve)
    register(sub, _open, parents=[common], wiring=_wiring)
    register_db(sub)
    return parser


def _config(args: argparse.Namespace) -> Config:
    return Config.from_env(corpus=args.corpus, db=args.db, no_cache=args.no_cache)


@asynccontextmanager
async def _wiring(args: argparse.Namespace, services: Services) -> AsyncIterator[DeliveryWiring]:
    """``digests`` delivers through every platform whose token is set, as ``serve`` does."""
    missing = missing_tokens(os.environ)
    if len(missing) == len(PLATFORM_TOKENS):  # no platform: no need to load their libraries
        yield DeliveryWiring(skipped=missing)
        return
    from adapters.platform_senders import open_senders

    assert services.store is not None
    # As under serve: each platform answers for its own chats' moderators.
    bot = build_bot(dataclasses.replace(services, moderators=platform_moderators()))
    async with open_senders(bot, services.store, os.environ) as opened:
        yield DeliveryWiring(opened.senders, opened.skipped, opened.failed)


def _open(args: argparse.Namespace) -> AbstractAsyncContextManager[Services]:
    return open_services(_config(args))


def configure_logging(level: str) -> None:
    numeric = getattr(logging, level.upper(), logging.WARNING)
    logging.basicConfig(
        level=numeric,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _chat(args: argparse.Namespace) -> int:
    async with _open(args) as services:
        console = ConsoleChat(build_bot(services), args.chat, json_mode=args.json)
        if args.command == "ask":
            message = " ".join(args.message)
            if _searches(message):
                await _semantic_ready(services)
            print(await console.exchange(message))
        elif sys.stdin.isatty() and not args.json:
            await console.run_interactive(sys.stdin, sys.stdout)
        else:
            await _semantic_ready(services)
            await console.run_script(sys.stdin, sys.stdout)
    return 0


def _searches(message: str) -> bool:
    text = message.strip().lower()
    return not text.startswith("/") or text.startswith("/search")


async def _semantic_ready(services: Services) -> None:
    """One-shot and scripted answers should not depend on how far the semantic index got
    in the background: wait for it (only the first run on new documents builds it)."""
    if services.index.wait_semantic(timeout=0.5):
        return
    progress = services.index.semantic_progress()
    if progress is not None:
        print(
            f"inquiry-bot: preparing search by meaning for {progress.total:,} passages "
            "(first run on these documents only)…",
            file=sys.stderr,
        )
        await asyncio.to_thread(services.index.wait_semantic)


async def _serve(args: argparse.Namespace) -> int:
    # python-telegram-bot 22 warns on every RetryAfter unless told to use timedelta values.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    from adapters.serve import ServeOptions, serve  # platform libraries load only to serve

    options = ServeOptions(scheduler=not args.no_scheduler)
    return await serve(_config(args), os.environ, options=options)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        status: int = asyncio.run(args.func(args))
        return status
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        message = failure_message(err, _database(args))
        if message is None:
            raise  # a bug: its traceback is what a developer needs
        print(f"inquiry-bot: {message}", file=sys.stderr)
        return 2


def _database(args: argparse.Namespace) -> str:
    """The database a command used, as it may be shown (no password)."""
    try:
        return describe(Config.from_env(db=getattr(args, "db", None)).database)
    except BotError:  # a bad setting elsewhere: the path alone still names the file
        return str(getattr(args, "db", None) or os.environ.get("INQUIRY_BOT_DB") or "database")


def failure_message(err: BaseException, database: str | Path) -> str | None:
    """One line for a failure that is the operator's to fix (configuration, a damaged or
    unusable database), or None for anything else. A group of failures from concurrent
    sends gets its first line if every one of them is the operator's."""
    if isinstance(err, BaseExceptionGroup):
        messages = [failure_message(inner, database) for inner in err.exceptions]
        return messages[0] if messages and None not in messages else None
    if isinstance(err, BotError):
        return str(err)
    if isinstance(err, sqlite3.DatabaseError):
        return database_message(database, err)
    return None


def database_message(path: str | Path, err: sqlite3.DatabaseError) -> str:
    name = getattr(err, "sqlite_errorname", "")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return (
            f"The database {path} is damaged ({err}). Stop the bot and restore the file from "
            f"a backup; sqlite3 {path} 'PRAGMA integrity_check' shows what is wrong."
        )
    return f"The database {path} could not be used: {err}."


if __name__ == "__main__":
    sys.exit(main())
