"""A digest pass in its own process, for the test that kills one with SIGKILL.

    python tests/digest_runner.py setup DB CHATS        # CHATS console chats, daily 08:00 London
    python tests/digest_runner.py pass DB ISO-TIME N    # one pass at ISO-TIME, N sends at once

DB is a SQLite file or a postgresql:// URL.

Digests go to stdout (the console sender); a JSON line per delivery with a reason (such as
"sent again after an interrupted run") goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from adapters.console_delivery import ConsoleSender
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteStore
from adapters.storage.urls import open_store
from bot.digests.digest import DigestBuilder
from bot.digests.scheduler import Scheduler
from bot.documents import default_corpus_dir, load_corpus
from bot.ports import SystemClock
from bot.views import Views

SUBSCRIBED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def setup(db: str, chats: int) -> None:
    """Console chats subscribed daily at 08:00 London, written in bulk."""
    async with await open_store(db) as store:
        await bulk_subscribe(store, chats)


async def bulk_subscribe(store: SqliteStore | PostgresStore, chats: int) -> None:
    keys = [f"console:chat-{i:05d}" for i in range(chats)]
    await store.import_table(
        "chats",
        [
            {
                "chat_key": key,
                "platform": "console",
                "chat_id": key.split(":", 1)[1],
                "kind": "private",
                "title": None,
                "timezone": "Europe/London",
                "active": True,
                "inactive_reason": "",
                "created_at": SUBSCRIBED_AT,
            }
            for key in keys
        ],
    )
    await store.import_table(
        "subscriptions",
        [
            {
                "id": n + 1,
                "chat_key": key,
                "frequency": "daily",
                "weekday": None,
                "at_time": "08:00",
                "paused": False,
                "since": SUBSCRIBED_AT,
                "finding_cursor": n % 8,
                "recommendation_cursor": n % 13,
                "last_digest_at": None,
                "created_at": SUBSCRIBED_AT,
            }
            for n, key in enumerate(keys)
        ],
    )


async def one_pass(db: str, when: str, concurrency: int) -> None:
    corpus = load_corpus(default_corpus_dir())
    async with await open_store(db) as store:
        builder = DigestBuilder(corpus, Views(), store)
        senders = {"console": ConsoleSender(sys.stdout)}
        scheduler = Scheduler(store, senders, builder, SystemClock(), concurrency=concurrency)
        for record in await scheduler.run_once(datetime.fromisoformat(when)):
            if record.reason:
                print(json.dumps(record.to_json()), file=sys.stderr, flush=True)


def main(argv: list[str]) -> None:
    if argv[0] == "setup":
        asyncio.run(setup(argv[1], int(argv[2])))
    elif argv[0] == "pass":
        asyncio.run(one_pass(argv[1], argv[2], int(argv[3])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
