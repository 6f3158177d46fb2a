"""``inquiry-bot db``: database chores (for now, ``db copy`` to move to another database)."""

from __future__ import annotations

import argparse
import sys

from adapters.storage.copying import copy_database
from adapters.storage.urls import describe


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="database chores: copy to another database")
    chores = db.add_subparsers(dest="chore", required=True, metavar="CHORE")
    copy = chores.add_parser(
        "copy",
        help="copy every row into another, empty database",
        description="Copy every chat, subscription, alert, template version, document and "
        "outbox entry from one database to another, empty one, e.g. "
        "--from sqlite:///bot.db --to postgresql://bot@db.internal/bot. Stop the bot first.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="DB", help="copy from")
    copy.add_argument("--to", dest="target", required=True, metavar="DB", help="copy into")
    copy.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)
    copy.set_defaults(func=_copy)


async def _copy(args: argparse.Namespace) -> int:
    report = await copy_database(args.source, args.target)
    for line in report.lines():
        print(line)
    print(f"Copied {describe(args.source)} to {describe(args.target)}: every count matches.")
    sys.stdout.flush()
    return 0
