"""Start-up to the first reply, reply time inside the core, and memory, on the seed documents.

    python bench/bench_core.py [--rounds 200]

Prints markdown tables. Start-up is timed as a user meets it: a fresh process running
``inquiry-bot ask /findings``, with an empty index cache and again with a warm one; and
``inquiry-bot ask QUESTION``, which waits for the semantic index (so with an empty cache it
times the whole index build, vectors included). Questions are timed once each over every
question of the evaluation sets (distinct texts: no cached question vector is reused).
Memory is the peak resident size of a process set up as ``serve`` is (platform libraries
imported, index and model loaded) after answering every question.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.app import Config, build_bot, build_services  # noqa: E402
from bench.eval_search import question_sets  # noqa: E402
from bot.core import BriefingBot  # noqa: E402
from bot.documents import default_corpus_dir  # noqa: E402
from bot.messages import ChatRef, IncomingMessage, SenderRef  # noqa: E402

MESSAGES = {
    "/findings": "/findings",
    "/finding 7": "/finding 7",
    "/recommendation 10": "/recommendation 10",
    "/chapters (paged)": "/chapters",
}


def startup(cache_dir: Path, message: str = "/findings") -> float:
    env = dict(
        os.environ,
        INQUIRY_BOT_CACHE=str(cache_dir),
        INQUIRY_BOT_DB=str(cache_dir.parent / "bot.db"),
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "adapters.cli", "ask", message],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def eval_questions() -> list[str]:
    sets = question_sets(None)
    return list(dict.fromkeys(q for questions in sets.values() for q, _ in questions))


async def reply_times(rounds: int) -> dict[str, list[float]]:
    config = Config(corpus_dir=default_corpus_dir(), cache_dir=None, db_path=None)
    services = build_services(config)
    services.index.wait_semantic()
    bot = build_bot(services)
    chat, sender = ChatRef("console", "bench"), SenderRef("u")
    times: dict[str, list[float]] = {name: [] for name in MESSAGES}
    for _ in range(rounds):
        for name, text in MESSAGES.items():
            if name.startswith("question"):
                continue
            started = time.perf_counter()
            await bot.handle(IncomingMessage(chat, sender, text))
            times[name].append((time.perf_counter() - started) * 1000)
    questions = eval_questions()
    _LABEL[0] = f"question (each of {len(questions)} once)"
    times[_LABEL[0]] = [await _timed(bot, chat, sender, question) for question in questions]
    _LABEL[0] = "999 characters of gibberish (each distinct)"
    times[_LABEL[0]] = [await _timed(bot, chat, sender, gibberish(seed)) for seed in range(20)]
    STALLS.append(await loop_stall_ms(bot))
    return {name: samples for name, samples in times.items() if samples}


STALLS: list[float] = []


def gibberish(seed: int) -> str:
    """A question of 999 characters of made-up words, none known, none correctable."""
    rng = random.Random(seed)
    words = ("".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(9)) for _ in range(200))
    return " ".join(words)[:999]


async def loop_stall_ms(bot: BriefingBot) -> float:
    """The longest the event loop went unserved while ten chats each sent a 999-character
    gibberish question at once (a heartbeat every millisecond measures the gaps)."""
    gaps: list[float] = []
    running = True

    async def heartbeat() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append((now - last) * 1000)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    floods = [
        bot.handle(IncomingMessage(ChatRef("console", f"flood-{n}"), SenderRef("u"), gibberish(n)))
        for n in range(100, 110)
    ]
    await asyncio.gather(*floods)
    running = False
    await beat
    return max(gaps)


CPU: dict[str, list[float]] = {}


async def _timed(bot: BriefingBot, chat: ChatRef, sender: SenderRef, text: str) -> float:
    """Wall milliseconds of one reply; its CPU milliseconds (all threads of this process:
    the search runs on a worker thread) go to ``CPU`` under the current label."""
    started, cpu = time.perf_counter(), time.process_time()
    await bot.handle(IncomingMessage(chat, sender, text))
    CPU.setdefault(_LABEL[0], []).append((time.process_time() - cpu) * 1000)
    return (time.perf_counter() - started) * 1000


_LABEL = [""]


_MEMORY_PROBE = """
import asyncio, resource, sys
import adapters.serve, telegram, discord  # what serve loads
from adapters.app import Config, build_bot, build_services
from bench.bench_core import eval_questions
from bot.documents import default_corpus_dir
from bot.messages import ChatRef, IncomingMessage, SenderRef
services = build_services(Config(default_corpus_dir(), cache_dir=None, db_path=None))
services.index.wait_semantic()
bot = build_bot(services)
async def ask_all():
    for q in eval_questions():
        await bot.handle(IncomingMessage(ChatRef("console", "m"), SenderRef("u"), q))
asyncio.run(ask_all())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def serve_memory_mb() -> float:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    question = "what did the report say about vetting"
    with tempfile.TemporaryDirectory() as tmp:
        cold = startup(Path(tmp) / "cache")
        warm = statistics.median(startup(Path(tmp) / "cache") for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        cold_question = startup(Path(tmp) / "cache", question)
        warm_question = statistics.median(startup(Path(tmp) / "cache", question) for _ in range(3))
    print("## Start-up to the first reply (fresh process, `inquiry-bot ask …`)\n")
    print("| message | index cache | seconds | target |")
    print("|---|---|---:|---:|")
    print(f"| /findings | empty (BM25 index built) | {cold:.2f} | ≤ 1.5 |")
    print(f"| /findings | warm (median of 3) | {warm:.2f} | ≤ 1.5 |")
    print(
        f"| a question | empty (BM25 built; passage vectors from seeds/) | {cold_question:.2f} "
        "| ≤ 10 |"
    )
    print(f"| a question | warm (median of 3) | {warm_question:.2f} | ≤ 1.5 |")

    times = asyncio.run(reply_times(args.rounds))
    print(f"\n## Reply time inside the core ({args.rounds} rounds each)\n")
    print("| message | median ms | p95 ms | CPU median ms | CPU p95 ms |")
    print("|---|---:|---:|---:|---:|")
    every: list[float] = []
    for name, samples in times.items():
        samples.sort()
        every.extend(samples)
        cpu = sorted(CPU.get(name, []))
        cpu_cells = f"{statistics.median(cpu):.1f} | {_p95(cpu):.1f}" if cpu else "– | –"
        print(f"| {name} | {statistics.median(samples):.3f} | {_p95(samples):.3f} | {cpu_cells} |")
    print(f"| **all messages** | **{statistics.median(every):.3f}** | | | |")
    print(
        f"\nLongest the event loop went unserved while ten chats sent 999-character gibberish "
        f"questions at once: **{STALLS[0]:.1f} ms**"
    )
    print(f"\nPeak memory of a process set up as `serve` is: **{serve_memory_mb():.0f} MB**")


if __name__ == "__main__":
    main()
