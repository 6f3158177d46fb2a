"""Many inquiries in one bot: start-up, switching, memory, and a digest pass.

    python bench/bench_inquiries.py [--inquiries 20] [--passages 2000] [--chats 10000]

Writes a corpus folder of generated inquiries (each a report with findings and
recommendations, and news documents, about ``--passages`` passages in all) and measures,
each in a fresh process so nothing is shared between the figures:

- start-up to the first reply: ``inquiry-bot ask /findings``, wall clock, with the index
  caches warm (built by an earlier run);
- switching a chat to an inquiry not loaded yet: ``/inquiry NAME`` answered (its documents
  read and its cached index loaded), then a question in it;
- memory with every inquiry loaded: the resident size of a process that opened the bot as
  ``serve`` does (database, catalogue, default inquiry) and then loaded all the others;
- a digest pass over ``--chats`` chats spread over the inquiries: planned and rendered, in
  a process that has loaded no inquiry yet, then again the next day with all loaded.

Prints markdown tables. Limits: 1 s, 0.5 s, 500 MB, 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.app import Config, build_bot, digest_maker, open_services  # noqa: E402
from adapters.storage.sqlite import SqliteStore  # noqa: E402
from bot.digests.schedule import daily  # noqa: E402
from bot.digests.scheduler import Scheduler  # noqa: E402
from bot.messages import ChatKind, ChatRef, DeliveryOutcome, IncomingMessage, Reply  # noqa: E402
from bot.ports import EveryoneModerates  # noqa: E402
from bot.services import Services  # noqa: E402

SEED = 20240514
PASS_AT = datetime(2024, 5, 14, 7, 0, tzinfo=UTC)  # 08:00 in London
SUBSCRIBED = datetime(2024, 5, 1, tzinfo=UTC)
SENTENCES_PER_PASSAGE = 2  # short sentences: about two make a passage
NEWS_DOCUMENTS = 9
SWITCHES = 6
QUESTIONS = ("what went wrong with the inspections?", "who was responsible for the warnings?")

SUBJECTS = (
    "the council the regulator the utility the trust the board the ministry the contractor "
    "the inspectorate the police the hospital the operator the agency the panel the families"
).split(" the ")
VERBS = "ignored missed delayed reported reviewed approved postponed questioned funded".split()
OBJECTS = (
    "the warnings|the inspections|the budget|the complaints|the test results|the repairs|"
    "the evidence|the safety case|the audit|the minutes|the helpline|the risk register"
).split("|")
TAILS = (
    "for several years|before the collapse|after the first reports|without telling anyone|"
    "in the spring|despite the advice it was given|until the inquiry asked|at every meeting"
).split("|")


def sentence(rng: random.Random, topic: str) -> str:
    subject = rng.choice(SUBJECTS).strip().removeprefix("the ")
    return (
        f"The {subject} {rng.choice(VERBS)} {rng.choice(OBJECTS)} about the {topic} "
        f"{rng.choice(TAILS)}."
    )


def paragraph(rng: random.Random, topic: str) -> str:
    return " ".join(sentence(rng, topic) for _ in range(SENTENCES_PER_PASSAGE))


def write_inquiry(folder: Path, number: int, passages: int, rng: random.Random) -> None:
    folder.mkdir(parents=True)
    topic = f"{rng.choice(['bridge', 'reservoir', 'hospital', 'tower', 'railway'])} {number}"
    name = folder.name
    (folder / "inquiry.json").write_text(
        json.dumps(
            {
                "name": name,
                "title": f"The {topic.title()} Inquiry",
                "summary": f"Why the {topic} failed, and who should have acted",
                "status": "reported" if number % 2 else "taking evidence",
            }
        )
    )
    findings = [
        f"{i}. The {rng.choice(OBJECTS)[4:]} were {rng.choice(VERBS)}\n{paragraph(rng, topic)}"
        for i in range(1, 9)
    ]
    recommendations = [f"{i}. {sentence(rng, topic)}" for i in range(1, 21)]
    per_document = passages // (NEWS_DOCUMENTS + 1)
    body = "\n\n".join(paragraph(rng, topic) for _ in range(per_document))
    report = (
        f"The {topic.title()} Inquiry: final report\n\nKey findings\nThe findings are these.\n\n"
        + "\n\n".join(findings)
        + "\n\nRecommendations\nThe Inquiry recommends the following.\n\nSafety\n"
        + "\n".join(recommendations)
        + f"\n\nPart 1: What happened\n{body}\n"
    )
    (folder / "report.txt").write_text(report)
    (folder / "report.json").write_text(json.dumps({"title": f"{topic} report", "kind": "report"}))
    for n in range(NEWS_DOCUMENTS):
        text = "\n\n".join(paragraph(rng, topic) for _ in range(per_document))
        (folder / f"news-{n}.txt").write_text(f"News {n} on the {topic}\n\n{text}\n")


def make_corpus(root: Path, inquiries: int, passages: int) -> list[str]:
    rng = random.Random(SEED)
    names = [f"inq-{i:02d}" for i in range(inquiries)]
    for number, name in enumerate(names):
        write_inquiry(root / name, number, passages, rng)
    return names


def environment(work: Path) -> dict[str, str]:
    return dict(
        os.environ,
        INQUIRY_BOT_CORPUS=str(work / "corpus"),
        INQUIRY_BOT_CACHE=str(work / "cache"),
        INQUIRY_BOT_DB=str(work / "bot.db"),
        INQUIRY_BOT_SEMANTIC=os.environ.get("INQUIRY_BOT_SEMANTIC", "1"),
    )


def config(work: Path) -> Config:
    return Config.from_env(environment(work))


def run_self(work: Path, mode: str, *extra: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--work", str(work), "--mode", mode, *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the measuring processes ------------------------------------------------------------------


async def warm(work: Path) -> dict[str, Any]:
    """Build every inquiry's caches, semantic vectors too (so later processes start warm);
    count passages."""
    started = time.perf_counter()
    async with open_services(config(work), EveryoneModerates()) as services:
        assert services.inquiries is not None
        counts = {}
        for inquiry in services.inquiries:
            loaded = services.inquiries.load_now(inquiry)
            counts[inquiry.name] = len(loaded.index.passages)
        for inquiry in services.inquiries:
            loaded = services.inquiries.load_now(inquiry)
            loaded.index.wait_semantic()
    return {"passages": counts, "seconds": time.perf_counter() - started}


async def switching(work: Path) -> dict[str, Any]:
    async with open_services(config(work), EveryoneModerates()) as services:
        bot = build_bot(services)
        assert services.inquiries is not None
        names = [i.name for i in services.inquiries if services.inquiries.loaded(i.name) is None]
        chat = ChatRef("console", "switcher", ChatKind.PRIVATE)
        switch, first_answer = [], []
        for name in names[:SWITCHES]:
            started = time.perf_counter()
            reply = await ask(bot, chat, f"/inquiry {name}")
            switch.append(time.perf_counter() - started)
            assert "now follows" in reply.plain, reply.plain
            started = time.perf_counter()
            await ask(bot, chat, QUESTIONS[len(switch) % 2])
            first_answer.append(time.perf_counter() - started)
    return {"switch": switch, "answer": first_answer}


async def memory(work: Path) -> dict[str, Any]:
    async with open_services(config(work), EveryoneModerates()) as services:
        bot = build_bot(services)
        assert services.inquiries is not None
        started_mb = rss_mb()
        chat = ChatRef("console", "reader", ChatKind.PRIVATE)
        for inquiry in services.inquiries:
            await ask(bot, chat, f"/inquiry {inquiry.name}")
            await ask(bot, chat, QUESTIONS[0])
        loaded = sum(services.inquiries.loaded(i.name) is not None for i in services.inquiries)
        return {"start_mb": started_mb, "all_mb": rss_mb(), "peak_mb": peak_mb(), "loaded": loaded}


async def ask(bot: Any, chat: ChatRef, text: str) -> Reply:
    from bot.messages import SenderRef

    reply = await bot.handle(IncomingMessage(chat, SenderRef("1", "Reader"), text))
    assert reply is not None
    return reply


async def subscribe_chats(work: Path, chats: int, names: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    async with await SqliteStore.open(work / "digests.db") as store:
        for i in range(chats):
            ref = ChatRef("console", f"chat-{i:05d}")
            await store.subscribe(
                ref, daily(8, 0), "Europe/London", SUBSCRIBED, names[i % len(names)]
            )
            if i % 5 == 0:
                await store.add_alert(ref, "inspections", "Europe/London", SUBSCRIBED)
    return {"setup": time.perf_counter() - started}


class Discard:
    platform = "console"

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        return DeliveryOutcome.delivered()


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def digest_pass(work: Path) -> dict[str, Any]:
    cfg = Config.from_env({**environment(work), "INQUIRY_BOT_DB": str(work / "digests.db")})
    async with open_services(cfg, EveryoneModerates(), Clock(PASS_AT)) as services:
        store = services.store
        assert store is not None
        scheduler = Scheduler(
            store, {"console": Discard()}, digest_maker(services, store), Clock(PASS_AT)
        )
        cold = await timed_plan(scheduler, services, PASS_AT)
        warm_ = await timed_plan(scheduler, services, PASS_AT + timedelta(days=1))
    return {"cold": cold, "warm": warm_, "peak_mb": peak_mb()}


async def timed_plan(scheduler: Scheduler, services: Services, at: datetime) -> dict[str, float]:
    started = time.perf_counter()
    planned = await scheduler.plan(at)
    seconds = time.perf_counter() - started
    await scheduler.deliver(at)
    assert services.inquiries is not None
    loaded = sum(services.inquiries.loaded(i.name) is not None for i in services.inquiries)
    return {"planned": planned, "seconds": seconds, "loaded": loaded}


# -- the driver -------------------------------------------------------------------------------


def start_up(work: Path, rounds: int = 3) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "adapters.cli", "ask", "/findings"],
            cwd=ROOT,
            env=environment(work),
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
        assert "findings" in done.stdout
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inquiries", type=int, default=20)
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    modes = {"warm": warm, "switching": switching, "memory": memory, "digests": digest_pass}
    if args.mode:
        print(json.dumps(asyncio.run(modes[args.mode](args.work))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        names = make_corpus(work / "corpus", args.inquiries, args.passages)
        warmed = run_self(work, "warm")
        passages = warmed["passages"]
        start = start_up(work)
        switched = run_self(work, "switching")
        held = run_self(work, "memory")
        setup = asyncio.run(subscribe_chats(work, args.chats, names))
        digests = run_self(work, "digests")
    report(args, passages, start, switched, held, setup, digests)
    semantic = os.environ.get("INQUIRY_BOT_SEMANTIC", "1")
    print(
        f"\nSemantic search {'off' if semantic in ('0', 'off', 'no', 'false') else 'on'}; "
        f"warming every cache first took {warmed['seconds']:.0f} s (not timed against a limit)."
    )


def report(
    args: argparse.Namespace,
    passages: dict[str, int],
    start: list[float],
    switched: dict[str, Any],
    held: dict[str, Any],
    setup: dict[str, Any],
    digests: dict[str, Any],
) -> None:
    counts = list(passages.values())
    print(
        f"{len(counts)} inquiries of {min(counts):,}–{max(counts):,} passages "
        f"({sum(counts):,} in all)\n"
    )
    print("| measure | median | worst | limit |")
    print("|---|---:|---:|---:|")
    print(
        f"| start-up to the first reply (`ask /findings`, warm caches, {len(start)} runs) | "
        f"{statistics.median(start):.2f} s | {max(start):.2f} s | 1 s |"
    )
    print(
        f"| `/inquiry NAME` to an inquiry not loaded yet ({len(switched['switch'])} inquiries) | "
        f"{statistics.median(switched['switch']):.3f} s | {max(switched['switch']):.3f} s | "
        "0.5 s |"
    )
    print(
        f"| the first question after switching | {statistics.median(switched['answer']):.4f} s | "
        f"{max(switched['answer']):.4f} s | |"
    )
    print()
    print("| memory | figure | limit |")
    print("|---|---:|---:|")
    print(
        f"| opened as `serve` opens it, the default inquiry loaded | {held['start_mb']:.0f} MB | |"
    )
    print(
        f"| all {held['loaded']} inquiries loaded (resident) | {held['all_mb']:.0f} MB | 500 MB |"
    )
    print(f"| peak of that process | {held['peak_mb']:.0f} MB | |")
    print()
    cold, warm_ = digests["cold"], digests["warm"]
    print(f"Digest pass: {args.chats:,} chats over {len(counts)} inquiries, due in the same minute")
    print(f"(set-up, subscribing them: not timed against a limit, {setup['setup']:.1f} s)\n")
    print("| pass | digests | planned + rendered | limit |")
    print("|---|---:|---:|---:|")
    print(
        f"| first pass of a fresh process (loads the {cold['loaded'] - 1} other inquiries) | "
        f"{cold['planned']:,} | {cold['seconds']:.2f} s | 5 s |"
    )
    print(
        f"| next day, all inquiries loaded | {warm_['planned']:,} | {warm_['seconds']:.2f} s | "
        "5 s |"
    )
    print(f"| peak memory of the digest process | | {digests['peak_mb']:.0f} MB | |")


if __name__ == "__main__":
    main()
