"""How long one chat waits for the template workers while others overuse them.

    python bench/bench_template_fairness.py [--seconds 30] [--hammers 2] [--chats 40]

Four measurements, each on a fresh sandbox with the production settings (2 workers, 2 s per
render, a chat's share of 10 s of work a minute, 2 renders pending, a 20 s budget for a
digest pass):

1. Hammering: ``--hammers`` chats each ask ``/briefing`` of a slow template (``--render``, 1.2 s)
   once a second for ``--seconds``; a quiet chat asks for a quick template every 2 s. The
   quiet chat's delay (ask to answer) is reported, with the hammering chats' answers and
   refusals. "Before" runs the same load with every render anonymous (one first-come
   queue, no shares), as the sandbox was before chats had a fair share.
2. A digest pass of ``--chats`` chats, each with its own slow template, through the
   digest's seam: the pass's time, and how many chats got the built-in digest instead.
   "Before" has no pass budget.
3. Closing (SIGTERM) with 20 slow renders queued: time until close returns and every
   queued render has its answer.
4. The event-loop time of the worst ``/template add`` check: eight searches of twelve
   gibberish words each (the most a template may make), searched before the template runs.

Wall times depend on what else the machine runs: quote them with that said.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.documents import default_corpus_dir, load_corpus  # noqa: E402
from bot.errors import UserInputError  # noqa: E402
from bot.search import SearchIndex  # noqa: E402
from bot.templates.context import (  # noqa: E402
    MAX_SEARCH_CHARS,
    MAX_SEARCH_WORDS,
    MAX_SEARCHES,
    TemplateContexts,
    search_calls,
)
from bot.templates.digest_render import make_render_custom  # noqa: E402
from bot.templates.limits import PASS_BUDGET, TemplateOutOfTime, precheck  # noqa: E402
from bot.templates.sandbox import TemplateSandbox  # noqa: E402

SLOW = "{% for i in range(n) %}{% for j in range(1000) %}{% endfor %}{% endfor %}{{ who }}"
QUICK = "Hello {{ who }}"


async def calibrate(seconds: float) -> int:
    """The ``n`` that makes :data:`SLOW` take about ``seconds`` with both workers busy (as
    in the runs), the median of three tries: the machine's load moves."""
    box = TemplateSandbox()
    tries = []
    try:
        await box.start()
        for _ in range(3):
            started = time.perf_counter()
            await asyncio.gather(*(box.render(SLOW, {"n": 5_000, "who": ""}) for _ in range(2)))
            tries.append(time.perf_counter() - started)
    finally:
        await box.close()
    return min(100_000, max(1, round(5_000 * seconds / statistics.median(tries))))


@dataclass
class Hammering:
    quiet_delays: list[float] = field(default_factory=list)
    quiet_failed: list[str] = field(default_factory=list)
    answered: int = 0
    refused: int = 0
    failed: int = 0


async def hammering(fair: bool, hammers: int, seconds: float, n: int) -> Hammering:
    box = TemplateSandbox()
    result = Hammering()
    tasks: set[asyncio.Task[None]] = set()

    async def ask(chat: str, source: str, context: dict[str, Any], quiet: bool) -> None:
        started = time.perf_counter()
        try:
            await box.render(source, context, chat=chat if fair else None)
        except UserInputError as err:  # refused (a fair share) or failed (timed out)
            if quiet:
                result.quiet_failed.append(str(err))
            elif "share" in str(err) or "already has" in str(err):
                result.refused += 1
            else:
                result.failed += 1
            return
        if quiet:
            result.quiet_delays.append(time.perf_counter() - started)
        else:
            result.answered += 1

    def launch(chat: str, source: str, context: dict[str, Any], quiet: bool) -> None:
        task = asyncio.create_task(ask(chat, source, context, quiet))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        await box.start()
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        while loop.time() - start < seconds:
            for h in range(hammers):
                launch(f"hammer-{h}", SLOW, {"n": n, "who": h}, quiet=False)
            if tick % 2 == 0:
                launch("quiet", QUICK, {"who": "quiet"}, quiet=True)
            tick += 1
            await asyncio.sleep(start + tick - loop.time())
        # The quiet chat's last asks are answered; the hammers' backlog is not waited for.
        asked = math.ceil(tick / 2)
        while len(result.quiet_delays) + len(result.quiet_failed) < asked:
            await asyncio.sleep(0.05)
    finally:
        await box.close()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result


def own_template(n: int, chat: int) -> str:
    """The slow template as one chat's own digest template (its own source)."""
    return SLOW.replace("range(n)", f"range({n})").replace("{{ who }}", f"chat {chat}")


async def digest_pass(
    budget: float, chats: int, n: int, corpus_contexts: TemplateContexts
) -> tuple[float, int, int]:
    box = TemplateSandbox()
    render = make_render_custom(box, corpus_contexts, pass_budget=budget)
    try:
        await box.start()
        started = time.perf_counter()
        results = await asyncio.gather(
            *(render(own_template(n, i), {}) for i in range(chats)),
            return_exceptions=True,
        )
        took = time.perf_counter() - started
    finally:
        await box.close()
    skipped = sum(isinstance(r, TemplateOutOfTime) for r in results)
    rendered = sum(not isinstance(r, BaseException) for r in results)
    return took, rendered, skipped


async def closing(n: int) -> tuple[float, int]:
    box = TemplateSandbox()
    await box.start()
    renders = [
        asyncio.create_task(box.render(SLOW, {"n": n, "who": i}, chat=f"chat-{i}"))
        for i in range(20)
    ]
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    await box.close()
    results = await asyncio.gather(*renders, return_exceptions=True)
    return time.perf_counter() - started, sum(isinstance(r, BaseException) for r in results)


def worst_template_check(contexts: TemplateContexts, trials: int = 5) -> list[float]:
    """Loop time of the checks and searches before a worst-case template is rendered."""
    rnd = random.Random(7)
    times = []
    for _ in range(trials):
        words = [
            " ".join(
                "".join(rnd.choice("qzxjkvwy") for _ in range(9)) for _ in range(MAX_SEARCH_WORDS)
            )[:MAX_SEARCH_CHARS]
            for _ in range(MAX_SEARCHES)
        ]
        source = "".join(f'{{{{ search("{w}") }}}}' for w in words)
        started = time.perf_counter()
        precheck(source)
        search_calls(source)
        contexts.common(source)
        times.append(time.perf_counter() - started)
    return times


def run(coroutine: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return asyncio.run(coroutine(*args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hammers", type=int, default=2)
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--render", type=float, default=1.2, help="seconds of a slow render")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # overruns are counted in the tables instead

    n = run(calibrate, args.render)
    corpus = load_corpus(default_corpus_dir())
    contexts = TemplateContexts(corpus, SearchIndex.build(corpus.documents))

    print(f"Slow template: about {args.render:g} s of work per render (n={n}).\n")
    print(
        f"1. {args.hammers} chats ask /briefing of the slow template every second for "
        f"{args.seconds:g} s; a quiet chat asks for a quick one every 2 s\n"
    )
    print("| | quiet chat's delay: median | max | hammers answered | refused | failed |")
    print("|---|---|---|---|---|---|")
    for label, fair in (("before (one queue, no shares)", False), ("after (fair shares)", True)):
        h = run(hammering, fair, args.hammers, args.seconds, n)
        delays = h.quiet_delays or [float("nan")]
        print(
            f"| {label} | {statistics.median(delays):.2f} s | {max(delays):.2f} s | "
            f"{h.answered} | {h.refused} | {h.failed} |"
        )
        for reason in sorted(set(h.quiet_failed)):
            print(f"  (the quiet chat was refused {h.quiet_failed.count(reason)}×: {reason})")

    print(f"\n2. A digest pass: {args.chats} chats, each with its own slow template\n")
    print("| | pass time | chats rendered | chats given the built-in |")
    print("|---|---|---|---|")
    passes = (("before (no budget)", math.inf), (f"after ({PASS_BUDGET:g} s budget)", PASS_BUDGET))
    for label, budget in passes:
        took, rendered, skipped = run(digest_pass, budget, args.chats, n, contexts)
        print(f"| {label} | {took:.1f} s | {rendered} | {skipped} |")

    took, failed = run(closing, n)
    print(f"\n3. Closing with 20 slow renders queued: {took:.2f} s, {failed} of 20 answered "
          "'the bot is stopping'")

    times = worst_template_check(contexts)
    print(
        f"\n4. Loop time of the worst /template add check ({MAX_SEARCHES} searches of "
        f"{MAX_SEARCH_WORDS} gibberish words): median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
