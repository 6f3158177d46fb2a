"""Start-up to the first reply, and reply time inside the core, on the seed documents.

    python bench/bench_core.py [--rounds 200]

Prints markdown tables. Start-up is timed as a user meets it: a fresh process running
``inquiry-bot ask /findings``, with an empty index cache and again with a warm one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.app import Config, build_bot, build_services  # noqa: E402
from bot.documents import default_corpus_dir  # noqa: E402
from bot.messages import ChatRef, IncomingMessage, SenderRef  # noqa: E402

MESSAGES = {
    "/findings": "/findings",
    "/finding 7": "/finding 7",
    "/recommendation 10": "/recommendation 10",
    "/chapters (paged)": "/chapters",
    "question (short)": "vetting",
    "question (long)": "What did the report actually say about how the Met deals with "
    "misconduct cases and the vetting of officers who abuse women?",
    "question (no match)": "xylophone quasar",
}


def startup(cache_dir: Path) -> float:
    env = dict(
        os.environ,
        INQUIRY_BOT_CACHE=str(cache_dir),
        INQUIRY_BOT_DB=str(cache_dir.parent / "bot.db"),
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "adapters.cli", "ask", "/findings"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


async def reply_times(rounds: int) -> dict[str, list[float]]:
    config = Config(corpus_dir=default_corpus_dir(), cache_dir=None, db_path=None)
    bot = build_bot(build_services(config))
    chat, sender = ChatRef("console", "bench"), SenderRef("u")
    times: dict[str, list[float]] = {name: [] for name in MESSAGES}
    for _ in range(rounds):
        for name, text in MESSAGES.items():
            started = time.perf_counter()
            await bot.handle(IncomingMessage(chat, sender, text))
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cold = startup(Path(tmp) / "cache")
        warm = statistics.median(startup(Path(tmp) / "cache") for _ in range(3))
    print("## Start-up to the first reply (fresh process, `inquiry-bot ask /findings`)\n")
    print("| index cache | seconds | target |")
    print("|---|---:|---:|")
    print(f"| empty (index built) | {cold:.2f} | < 1 |")
    print(f"| warm (median of 3) | {warm:.2f} | < 1 |")

    times = asyncio.run(reply_times(args.rounds))
    print(f"\n## Reply time inside the core ({args.rounds} rounds each)\n")
    print("| message | median ms | p95 ms |")
    print("|---|---:|---:|")
    every: list[float] = []
    for name, samples in times.items():
        samples.sort()
        every.extend(samples)
        p95 = samples[int(len(samples) * 0.95) - 1]
        print(f"| {name} | {statistics.median(samples):.3f} | {p95:.3f} |")
    print(f"| **all messages** | **{statistics.median(every):.3f}** | target: median < 2 |")


if __name__ == "__main__":
    main()
