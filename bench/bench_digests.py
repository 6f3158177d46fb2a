"""10,000 subscriptions due in the same minute: planning and rendering their digests.

    python bench/bench_digests.py [--chats 10000]

Sets up a SQLite database of console chats all due at 08:00 London time, with their
cursors spread over every finding and recommendation, one chat in five with alerts, and a
few documents added since their last digest (so every section of the digest is built).
Then a fresh process runs one pass: planning (what is due, building and rendering every
digest, writing the outbox) and delivering (to a sender that discards them). Prints a
markdown table; the limits are 5 s to plan, 300 MB peak memory, 50 MB of database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.storage.sqlite import SqliteStore  # noqa: E402
from bot.digests.digest import DigestBuilder  # noqa: E402
from bot.digests.schedule import daily  # noqa: E402
from bot.digests.scheduler import Scheduler  # noqa: E402
from bot.documents import default_corpus_dir, load_corpus  # noqa: E402
from bot.messages import ChatRef, DeliveryOutcome, Reply  # noqa: E402
from bot.store import DocumentRecord, text_hash  # noqa: E402
from bot.views import Views  # noqa: E402

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


class Discard:
    platform = "console"

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        return DeliveryOutcome.delivered()


async def setup(db: Path, chats: int) -> float:
    started = time.perf_counter()
    async with await SqliteStore.open(db) as store:
        for i in range(chats):
            ref = ChatRef("console", f"chat-{i:05d}")
            await store.subscribe(ref, daily(8, 0), "Europe/London", SUBSCRIBED)
            if i % 5 == 0:
                await store.add_alert(ref, ALERTS[i % len(ALERTS)], "Europe/London", SUBSCRIBED)
        for n, text in enumerate(NEWS):
            added = datetime(2024, 5, 13, 12, n, tzinfo=UTC)
            await store.add_document(
                DocumentRecord(f"news-{n}", f"News {n}", added, text_hash(text), text, "Outlet")
            )
    with sqlite3.connect(db) as raw:  # readers part-way through the review
        raw.execute(
            "UPDATE subscriptions SET finding_cursor = id % 8, recommendation_cursor = id % 13"
        )
    return time.perf_counter() - started


async def one_pass(db: Path) -> dict[str, float]:
    corpus = load_corpus(default_corpus_dir())
    async with await SqliteStore.open(db) as store:
        builder = DigestBuilder(corpus, Views(), store)
        scheduler = Scheduler(store, {"console": Discard()}, builder, _Clock(), concurrency=8)
        started = time.perf_counter()
        planned = await scheduler.plan(PASS_AT)
        planning = time.perf_counter() - started
        planned_size = _db_size(db)
        started = time.perf_counter()
        records = await scheduler.deliver(PASS_AT)
        delivering = time.perf_counter() - started
    return {
        "planned": planned,
        "delivered": sum(r.status == "delivered" for r in records),
        "planning": planning,
        "delivering": delivering,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "db_planned_mb": planned_size,
        "db_after_mb": _db_size(db),
    }


class _Clock:
    def now(self) -> datetime:
        return PASS_AT


def _db_size(db: Path) -> float:
    files = [db, db.with_name(db.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--pass-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pass_only:
        print(json.dumps(asyncio.run(one_pass(args.pass_only))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        setup_seconds = asyncio.run(setup(db, args.chats))
        out = subprocess.run(
            [sys.executable, __file__, "--pass-only", str(db)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out)
    print(f"Digest pass: {args.chats:,} subscriptions due in the same minute\n")
    print("| measure | figure | limit |")
    print("|---|---|---|")
    print(f"| set-up (subscribing, not timed against a limit) | {setup_seconds:.1f} s | |")
    print(
        f"| planning + rendering {result['planned']:,} digests | {result['planning']:.2f} s | 5 s |"
    )
    print(f"| delivering them (sender discards) | {result['delivering']:.2f} s | |")
    print(f"| peak memory of the pass process | {result['peak_mb']:.0f} MB | 300 MB |")
    print(f"| database after planning | {result['db_planned_mb']:.1f} MB | 50 MB |")
    print(f"| database after delivery | {result['db_after_mb']:.1f} MB | |")


if __name__ == "__main__":
    main()
