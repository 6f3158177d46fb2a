"""Subscriptions due in the same minute: one whole digest pass.

    python bench/bench_digests.py [--chats 10000] [--postgres]

Sets up a database (SQLite; with --postgres, a PostgreSQL server it starts) of console chats
all due at 08:00 London time, with their cursors spread over every finding and
recommendation, one chat in five with alerts, and a few documents added since their last
digest (so every section of the digest is built). Then a fresh process runs one whole pass,
``Scheduler.run_once``: what is due, building and rendering every digest, writing the outbox,
claiming it a page at a time, delivering to a sender that records each digest, and recording
the outcomes. Prints a markdown table; the limits (SQLite) are 3 s for 10,000 chats, 30 s
for 100,000, and 300 MB peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.storage.urls import open_store  # noqa: E402
from bot.digests.digest import DigestBuilder  # noqa: E402
from bot.digests.scheduler import Scheduler  # noqa: E402
from bot.documents import default_corpus_dir, load_corpus  # noqa: E402
from bot.messages import DeliveryOutcome, Reply  # noqa: E402
from bot.store import DocumentRecord, text_hash  # noqa: E402
from bot.views import Views  # noqa: E402
from tests.digest_runner import bulk_subscribe  # noqa: E402
from tests.pg_server import PgServer  # noqa: E402

PASS_AT = datetime(2024, 5, 14, 7, 0, tzinfo=UTC)  # 08:00 in London
SUBSCRIBED = datetime(2024, 5, 1, tzinfo=UTC)
ALERTS = ("vetting", "stop and search", "misconduct", "women", "commissioner")
NEWS = (
    "The Met said every officer would be vetted again after the review.\n\n"
    "Officers who fail vetting checks will be dismissed, the Commissioner said.",
    "Stop and search rates fell across London last year.\n\n"
    "Campaigners said women still did not trust the force.",
    "A misconduct panel heard the case on Tuesday.\n\nThe officer was dismissed.",
)


class Recording:
    """Keeps every digest it is given (its chat and its text's length), as a sender would."""

    platform = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        self.sent.append((chat_id, len(reply.lines)))
        return DeliveryOutcome.delivered()


async def setup(db: str, chats: int) -> float:
    started = time.perf_counter()
    async with await open_store(db) as store:
        await bulk_subscribe(store, chats)
        await store.import_table(
            "alerts",
            [
                {
                    "id": n // 5 + 1,
                    "chat_key": f"console:chat-{n:05d}",
                    "words": ALERTS[n % len(ALERTS)],
                    "created_at": SUBSCRIBED,
                }
                for n in range(0, chats, 5)
            ],
        )
        for n, text in enumerate(NEWS):
            added = datetime(2024, 5, 13, 12, n, tzinfo=UTC)
            await store.add_document(
                DocumentRecord(f"news-{n}", f"News {n}", added, text_hash(text), text, "Outlet")
            )
    return time.perf_counter() - started


async def one_pass(db: str) -> dict[str, float]:
    corpus = load_corpus(default_corpus_dir())
    async with await open_store(db) as store:
        builder = DigestBuilder(corpus, Views(), store)
        sender = Recording()
        scheduler = Scheduler(store, {"console": sender}, builder, _Clock(), concurrency=8)
        started, cpu = time.perf_counter(), _cpu_seconds()
        records = await scheduler.run_once(PASS_AT)
        whole, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        unfinished = await store.count_unfinished()
    return {
        "delivered": sum(r.status == "delivered" for r in records),
        "sent": len(sender.sent),
        "chats": len({chat for chat, _ in sender.sent}),
        "unfinished": unfinished,
        "whole": whole,
        "cpu": cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _cpu_seconds() -> float:
    """CPU time of this process, every thread (aiosqlite's included): on a busy machine this
    says what the pass costs when the wall clock also counts time spent waiting for a core."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Clock:
    def now(self) -> datetime:
        return PASS_AT


def _db_size(db: str) -> float:
    path = Path(db)
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true", help="on a PostgreSQL server")
    parser.add_argument("--pass-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pass_only:
        print(json.dumps(asyncio.run(one_pass(args.pass_only))))
        return
    server = PgServer.start() if args.postgres else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = server.url if server else str(Path(tmp) / "bench.db")
            setup_seconds = asyncio.run(setup(db, args.chats))
            out = subprocess.run(
                [sys.executable, __file__, "--pass-only", db],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result = json.loads(out)
            size = None if server else _db_size(db)
    finally:
        if server:
            server.stop()
    where = "PostgreSQL" if server else "SQLite"
    limit = {10_000: "3 s", 100_000: "30 s"}.get(args.chats, "") if not server else ""
    print(f"Whole digest pass, {where}: {args.chats:,} subscriptions due in the same minute\n")
    print("| measure | figure | limit |")
    print("|---|---|---|")
    print(f"| set-up (bulk load, not timed against a limit) | {setup_seconds:.1f} s | |")
    print(
        f"| whole pass: plan, render, deliver {result['sent']:,} to {result['chats']:,} chats, "
        f"settle | {result['whole']:.2f} s | {limit} |"
    )
    print(f"| CPU time of the whole pass (all threads) | {result['cpu']:.2f} s | |")
    print(f"| digests per second | {result['sent'] / result['whole']:,.0f} | |")
    print(f"| left unfinished | {result['unfinished']:,} | 0 |")
    print(f"| peak memory of the pass process | {result['peak_mb']:.0f} MB | 300 MB |")
    if size is not None:
        print(f"| database after the pass | {size:.1f} MB | |")


if __name__ == "__main__":
    main()
