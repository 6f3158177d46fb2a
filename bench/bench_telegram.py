"""What the Telegram adapter adds to the core's own time, per message.

    python bench/bench_telegram.py [--updates 10000] [--chats 2000] [--rounds 3]

The same 10,000 messages (private chats, a mix of commands and questions) are answered
three ways, each timed as wall-clock time and as this process's CPU time:

1. the core alone: ``bot.handle`` on each message, one after another;
2. adapter + core, with python-telegram-bot's request layer replaced in-process by the
   stand-in (``RecordingRequest``): updates parsed from JSON, routed by the Application,
   handled concurrently, rendered to HTML, sent through the rate limiter, and recorded;
3. adapter + core over real HTTP: long polling (getUpdates) and sendMessage through
   HTTPXRequest against the stand-in Bot API server on 127.0.0.1, run in its own process
   so that its work is not counted against the adapter (the wall-clock time still waits
   for it).

The overhead is (adapter time - core time) / messages. The CPU figure is the steadier one
on a busy machine. Outgoing rate limits are off (AIORateLimiter without limits, so its code
still runs): under Telegram's limits 10,000 replies take minutes by design. Each round runs
the three in turn; the table shows the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Update  # noqa: E402
from telegram.ext import AIORateLimiter  # noqa: E402

from adapters.app import Config, build_bot, build_services  # noqa: E402
from adapters.telegram.bot import (  # noqa: E402
    DEFAULT_POOL,
    TelegramAdapter,
    chat_ref,
    sender_ref,
)
from bot.core import BriefingBot  # noqa: E402
from bot.documents import default_corpus_dir  # noqa: E402
from bot.messages import IncomingMessage  # noqa: E402
from bot.services import Services  # noqa: E402
from tests.telegram_standin import TOKEN, FakeBotAPI, RecordingRequest, text_message  # noqa: E402

TEXTS = (
    "/findings",
    "/finding 4",
    "/recommendation 10",
    "/rec 3",
    "/help",
    "/start",
    "/chapters",
    "vetting",
    "What did the report say about misconduct and vetting?",
    "stop and search",
)
TARGET_MS = 1.0


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


class Stopwatch:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def read(self) -> Timing:
        return Timing(time.perf_counter() - self.wall, time.process_time() - self.cpu)


def make_updates(count: int, chats: int) -> list[dict[str, Any]]:
    updates = []
    for n in range(count):
        chat_id = 10_000 + n % chats
        user = {"id": chat_id, "is_bot": False, "first_name": f"Reader {chat_id}"}
        chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        updates.append(text_message(TEXTS[n % len(TEXTS)], chat=chat, sender=user))
    return updates


def fresh_bot(seed: Services) -> BriefingBot:
    services = Services(
        corpus=seed.corpus,
        index=seed.index,
        views=seed.views,
        moderators=seed.moderators,
        bot_name=seed.bot_name,
    )
    return build_bot(services)


def no_limits() -> AIORateLimiter:
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0)


async def core_alone(seed: Services, updates: list[dict[str, Any]]) -> Timing:
    bot = fresh_bot(seed)
    messages = []
    for data in updates:
        message = Update.de_json(data, None).message
        assert message is not None and message.text is not None
        messages.append(IncomingMessage(chat_ref(message.chat), sender_ref(message), message.text))
    watch = Stopwatch()
    for incoming in messages:
        await bot.handle(incoming)
    return watch.read()


async def in_process(seed: Services, updates: list[dict[str, Any]]) -> Timing:
    api = FakeBotAPI()
    adapter = TelegramAdapter(
        fresh_bot(seed), TOKEN, request=RecordingRequest(api), rate_limiter=no_limits()
    )
    await adapter.start(receive=False)
    try:
        queue = adapter.application.update_queue
        bot = adapter.application.bot
        watch = Stopwatch()
        for data in updates:  # parsed here, as the polling loop would parse them
            queue.put_nowait(Update.de_json(data, bot))
        await api.wait_until(lambda: api.counts["sendMessage"] >= len(updates), 3600)
        return watch.read()
    finally:
        await adapter.stop()


async def over_http(
    seed: Services, updates: list[dict[str, Any]], workdir: Path, in_flight: int
) -> Timing:
    path = workdir / "updates.json"
    path.write_text(json.dumps(updates))
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.telegram_standin",
        "--updates",
        str(path),
        "--expect",
        str(len(updates)),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdin is not None and server.stdout is not None
    ready = (await server.stdout.readline()).decode().split()
    assert ready and ready[0] == "READY", ready
    adapter = TelegramAdapter(
        fresh_bot(seed), TOKEN, base_url=ready[1], rate_limiter=no_limits(), pool_size=in_flight
    )
    await adapter.start()
    try:
        watch = Stopwatch()
        server.stdin.write(b"go\n")
        await server.stdin.drain()
        done = (await server.stdout.readline()).decode()
        assert done.startswith("DONE"), done
        return watch.read()
    finally:
        await adapter.stop()
        server.stdin.write(b"stop\n")
        await server.stdin.drain()
        await server.wait()


def per_message(seconds: float, count: int) -> float:
    return seconds / count * 1000


def row(name: str, runs: list[Timing], core: list[Timing] | None, count: int) -> str:
    wall = statistics.median(t.wall for t in runs)
    cpu = statistics.median(t.cpu for t in runs)
    cells = [
        name,
        f"{wall:.2f}",
        f"{per_message(wall, count):.3f}",
        f"{per_message(cpu, count):.3f}",
    ]
    if core is None:
        cells += ["–", "–", "–"]
    else:
        extra_wall = per_message(wall - statistics.median(t.wall for t in core), count)
        extra_cpu = per_message(cpu - statistics.median(t.cpu for t in core), count)
        cells += [
            f"{extra_wall:.3f}",
            f"{extra_cpu:.3f}",
            "yes" if extra_cpu <= TARGET_MS else "NO",
        ]
    return "| " + " | ".join(cells) + " |"


async def run(count: int, chats: int, rounds: int, in_flight: int) -> None:
    seed = build_services(Config(corpus_dir=default_corpus_dir(), cache_dir=None, db_path=None))
    results: dict[str, list[Timing]] = {"core": [], "in-process": [], "http": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            results["core"].append(await core_alone(seed, make_updates(count, chats)))
            results["in-process"].append(await in_process(seed, make_updates(count, chats)))
            results["http"].append(
                await over_http(seed, make_updates(count, chats), Path(tmp), in_flight)
            )
    core = results["core"]
    print(
        f"## Telegram adapter: {count:,} incoming updates from {chats:,} private chats "
        f"(median of {rounds} rounds)\n"
    )
    print(
        "| path | wall s | wall ms/msg | CPU ms/msg | overhead wall ms/msg "
        "| overhead CPU ms/msg | CPU overhead ≤ 1 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|:---:|")
    print(row("core alone (`bot.handle`)", core, None, count))
    print(row("adapter + core, in-process request", results["in-process"], core, count))
    print(row("adapter + core, HTTP to stand-in process", results["http"], core, count))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--in-flight", type=int, default=DEFAULT_POOL, help="Bot API requests on the wire at once"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.updates, args.chats, args.rounds, args.in_flight))


if __name__ == "__main__":
    main()
