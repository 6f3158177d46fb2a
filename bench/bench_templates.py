"""A typical moderator template rendered for many chats, sandbox and workers included.

    python bench/bench_templates.py [--chats 10000] [--workers 2] [--repeat 3]

The template is ``briefings/template_example.j2`` (recommendations filtered by a word, a
search, new documents, alerts, the date). Every chat has its own context: its own alerts,
time zone and new documents. Timed from a cold start: the worker processes are started
inside the measurement. Two ways are timed: one batched ``render_many`` call, and one
``render_custom`` call per chat gathered at once, as the digest calls it (concurrent calls
are batched by the seam; its lines are parsed from the markup). CPU time is reported too,
for the bot's process and the workers, since wall time depends on what else the machine runs.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.documents import default_corpus_dir, load_corpus  # noqa: E402
from bot.search import SearchIndex  # noqa: E402
from bot.templates.context import TemplateContexts, chat_data  # noqa: E402
from bot.templates.digest_render import make_render_custom  # noqa: E402
from bot.templates.sandbox import TemplateSandbox  # noqa: E402
from bot.views import Views  # noqa: E402

ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC")
ALERT_WORDS = ("vetting", "misogyny", "stop and search", "racism", "homophobia", "trust")


def chat_contexts(contexts: TemplateContexts, count: int) -> list[dict[str, Any]]:
    docs = [d.meta for d in contexts.corpus.documents]
    start = datetime(2024, 3, 1, 7, 0, tzinfo=UTC)
    return [
        chat_data(
            alerts=[ALERT_WORDS[i % len(ALERT_WORDS)], f"chat {i}"],
            now=start + timedelta(minutes=i),
            timezone=ZONES[i % len(ZONES)],
            new_documents=docs[: i % 3],
        )
        for i in range(count)
    ]


@dataclass(frozen=True)
class Run:
    label: str
    start: float  # seconds until the workers were ready
    total: float  # seconds from cold start to the last output (parsing included if done)
    parent_cpu: float
    worker_cpu: float
    outputs: list[str]


async def batched(
    source: str, contexts: TemplateContexts, chats: list[dict[str, Any]], workers: int
) -> tuple[float, list[str]]:
    """One ``render_many`` call; returns (start time, outputs)."""
    sandbox = TemplateSandbox(workers=workers)
    started = time.perf_counter()
    try:
        await sandbox.start()
        ready = time.perf_counter() - started
        outputs = await sandbox.render_many(
            source, chats, shared=contexts.shared, common=contexts.common(source)
        )
    finally:
        await sandbox.close()
    return ready, outputs


async def digest_path(
    source: str, contexts: TemplateContexts, chats: list[dict[str, Any]], workers: int
) -> tuple[float, list[str]]:
    """One ``render_custom`` call per chat, gathered, as the digest does (lines parsed)."""
    sandbox = TemplateSandbox(workers=workers)
    started = time.perf_counter()
    try:
        await sandbox.start()
        ready = time.perf_counter() - started
        render = make_render_custom(sandbox, contexts)
        digests = [_digest_shape(chat) for chat in chats]
        lines = await asyncio.gather(*(render(source, d) for d in digests))
    finally:
        await sandbox.close()
    outputs = ["\n".join("".join(s.text for s in line) for line in out) for out in lines]
    return ready, outputs


def _digest_shape(chat: dict[str, Any]) -> dict[str, Any]:
    return {
        "now": chat["now"]["iso"],
        "timezone": chat["now"]["timezone"],
        "alert_words": chat["alerts"],
        "new_documents": chat["new_documents"],
    }


def measure(
    label: str,
    run: Callable[..., Awaitable[tuple[float, list[str]]]],
    *args: Any,
) -> Run:
    cpu, children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    ready, outputs = asyncio.run(run(*args))
    total = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return Run(label, ready, total, time.process_time() - cpu, worker_cpu, outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many cold runs")
    args = parser.parse_args()

    corpus = load_corpus(default_corpus_dir())
    index = SearchIndex.build(corpus.documents)
    source = Views().source("template_example.j2")
    contexts = TemplateContexts(corpus, index)

    built = time.perf_counter()
    chats = chat_contexts(contexts, args.chats)
    build_time = time.perf_counter() - built

    ways = (
        ("render_many, one batched call", batched),
        ("render_custom per chat, gathered (the digest's way; lines parsed)", digest_path),
    )
    runs = [
        min(
            (measure(label, way, source, contexts, chats, args.workers)
             for _ in range(args.repeat)),
            key=lambda run: run.total,
        )
        for label, way in ways
    ]
    for run in runs:
        assert len(set(run.outputs)) == len(chats), "every chat should get its own briefing"

    print(
        f"Typical template for {args.chats:,} chats, {args.workers} workers, cold start, "
        f"best of {args.repeat}\n"
    )
    print("| way | worker start | total | per render | CPU: bot | CPU: workers |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        per = (run.total - run.start) / args.chats
        print(
            f"| {run.label} | {run.start * 1000:.0f} ms | {run.total:.2f} s | "
            f"{per * 1e6:.0f} µs | {run.parent_cpu:.2f} s | {run.worker_cpu:.2f} s |"
        )
    outputs = runs[0].outputs
    print(f"\nBuilding the {args.chats:,} chat contexts (not in the totals): {build_time:.2f} s")
    print(f"Example output ({len(outputs[0])} characters):\n")
    print(outputs[0])


if __name__ == "__main__":
    main()
