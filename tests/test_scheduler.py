"""The digest scheduler as readers meet it: on time, once, across daylight saving, and
through the ways platforms fail."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.console_delivery import HEADER
from bot.digests.digest import Digest, DigestBuilder
from bot.digests.schedule import Schedule, daily, parse_schedule, weekly
from bot.digests.scheduler import LATE_REASON, RESENT_NOTE, DeliveryRecord, RetryPolicy, Scheduler
from bot.messages import ChatKind, ChatRef, DeliveryOutcome, DeliveryStatus, Reply, Span
from bot.services import Services
from bot.store import DocumentRecord, InMemoryStore, OutboxStatus, Store, Subscription, text_hash

LONDON = "Europe/London"
DAY = date(2024, 5, 14)  # a Tuesday, far from any clock change


def at(local: str, zone: str = LONDON) -> datetime:
    """An instant given as local wall time, e.g. at("2024-05-14 08:00")."""
    naive = datetime.fromisoformat(local)
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass
class FakeClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


@dataclass
class FakeSender:
    """Records every send; answers from a script of outcomes per chat (else delivered)."""

    platform: str = "telegram"
    script: dict[str, list[DeliveryOutcome]] = field(default_factory=dict)
    sent: list[tuple[str, str]] = field(default_factory=list)
    raise_for: set[str] = field(default_factory=set)
    in_flight: int = 0
    most_in_flight: int = 0
    gate: asyncio.Event | None = None

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            if chat_id in self.raise_for:
                raise ConnectionResetError("connection reset by peer")
            self.sent.append((chat_id, reply.plain))
            outcomes = self.script.get(chat_id)
            return outcomes.pop(0) if outcomes else DeliveryOutcome.delivered()
        finally:
            self.in_flight -= 1

    def to(self, chat_id: str) -> list[str]:
        return [text for chat, text in self.sent if chat == chat_id]


class CountingDigests:
    """A digest that says which chat and which of its digests it is."""

    def __init__(self) -> None:
        self.built = 0

    async def __call__(self, subs: Sequence[Subscription], now: datetime) -> list[Digest]:
        self.built += len(subs)
        return [
            Digest(
                Reply(lines=((Span(f"digest {s.finding_cursor + 1} for {s.chat_id}"),),)),
                s.finding_cursor + 1,
                s.recommendation_cursor + 1,
            )
            for s in subs
        ]


def chat(chat_id: str, platform: str = "telegram") -> ChatRef:
    return ChatRef(platform, chat_id, ChatKind.GROUP)


def make_scheduler(
    store: Store, *senders: FakeSender, clock: FakeClock | None = None, concurrency: int = 4
) -> Scheduler:
    return Scheduler(
        store,
        {s.platform: s for s in senders},
        CountingDigests(),
        clock or FakeClock(at("2024-05-14 00:00")),
        concurrency=concurrency,
    )


# -- on time, and once ----------------------------------------------------------------------


async def test_a_digest_goes_out_at_its_time_and_only_once(store: Store) -> None:
    sender = FakeSender()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)

    assert await scheduler.run_once(at("2024-05-14 07:59")) == []
    first = await scheduler.run_once(at("2024-05-14 08:00"))
    second = await scheduler.run_once(at("2024-05-14 08:00"))  # two passes in one minute
    later = await scheduler.run_once(at("2024-05-14 08:01"))

    assert [(r.chat, r.status, r.scheduled) for r in first] == [
        ("1", "delivered", "2024-05-14T07:00:00+00:00")
    ]
    assert second == [] and later == []
    assert sender.to("1") == ["digest 1 for 1"]
    await scheduler.run_once(at("2024-05-15 08:00"))
    assert sender.to("1") == ["digest 1 for 1", "digest 2 for 1"]


async def test_two_passes_at_once_send_nothing_twice(store: Store) -> None:
    sender = FakeSender()
    for i in range(20):
        await store.subscribe(chat(str(i)), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)
    now = at("2024-05-14 08:00")
    await asyncio.gather(scheduler.run_once(now), scheduler.run_once(now))
    await scheduler.run_once(now)
    assert sorted(c for c, _ in sender.sent) == sorted(str(i) for i in range(20))


async def test_a_late_pass_still_sends_within_six_hours(store: Store) -> None:
    sender = FakeSender()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    records = await make_scheduler(store, sender).run_once(at("2024-05-14 13:59"))
    assert [r.status for r in records] == ["delivered"]


async def test_a_time_missed_by_six_hours_is_skipped_not_sent_late(store: Store) -> None:
    sender = FakeSender()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)
    assert await scheduler.run_once(at("2024-05-14 14:00")) == []
    assert await scheduler.run_once(at("2024-05-14 23:00")) == []
    await scheduler.run_once(at("2024-05-15 08:00"))
    assert sender.to("1") == ["digest 1 for 1"]  # the next day's, the first one sent


async def test_subscribing_after_todays_time_starts_tomorrow(store: Store) -> None:
    sender = FakeSender()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-14 09:30"))
    scheduler = make_scheduler(store, sender)
    assert await scheduler.run_once(at("2024-05-14 09:31")) == []
    assert len(await scheduler.run_once(at("2024-05-15 08:00"))) == 1


async def test_paused_chats_get_nothing_and_resuming_owes_nothing_missed(store: Store) -> None:
    sender = FakeSender()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    await store.set_paused(chat("1").key, True, at("2024-05-13 13:00"))
    scheduler = make_scheduler(store, sender)
    assert await scheduler.run_once(at("2024-05-14 08:00")) == []
    await store.set_paused(chat("1").key, False, at("2024-05-14 09:00"))
    assert await scheduler.run_once(at("2024-05-14 09:01")) == []  # 08:00 passed while paused
    assert len(await scheduler.run_once(at("2024-05-15 08:00"))) == 1


async def test_weekly_digest_comes_on_its_day(store: Store) -> None:
    sender = FakeSender()
    await store.subscribe(chat("1"), weekly(0, 9, 0), LONDON, at("2024-05-10 12:00"))
    scheduler = make_scheduler(store, sender)
    records = []
    for day in range(12, 20):  # Sunday 12 May to Sunday 19 May
        records += await scheduler.run_once(at(f"2024-05-{day} 09:00"))
    assert [r.scheduled for r in records] == [at("2024-05-13 09:00").isoformat()]  # Monday
    assert len(sender.to("1")) == 1


async def test_the_outbox_holds_the_digest_before_it_is_sent(store: Store) -> None:
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    seen: list[OutboxStatus] = []

    class Peeking(FakeSender):
        async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
            [entry] = await store.list_outbox()
            seen.append(entry.status)
            return await super().send(chat_id, reply)

    await make_scheduler(store, Peeking()).run_once(at("2024-05-14 08:00"))
    assert seen == [OutboxStatus.SENDING]
    [entry] = await store.list_outbox()
    assert entry.status is OutboxStatus.DELIVERED and entry.attempts == 1


async def test_chats_on_a_platform_without_a_sender_wait_for_theirs(store: Store) -> None:
    telegram = FakeSender("telegram")
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    await store.subscribe(chat("d1", "discord"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    records = await make_scheduler(store, telegram).run_once(at("2024-05-14 08:00"))
    assert [(r.platform, r.chat) for r in records] == [("telegram", "1")]
    discord = FakeSender("discord")
    again = await make_scheduler(store, telegram, discord).run_once(at("2024-05-14 08:05"))
    assert [(r.platform, r.chat) for r in again] == [("discord", "d1")]
    assert telegram.to("1") == ["digest 1 for 1"]


async def test_sends_in_flight_never_exceed_the_concurrency() -> None:
    store = InMemoryStore()
    for i in range(50):
        await store.subscribe(chat(str(i)), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    sender = FakeSender()
    records = await make_scheduler(store, sender, concurrency=3).run_once(at("2024-05-14 08:00"))
    assert len(records) == 50 and {r.status for r in records} == {"delivered"}
    assert sender.most_in_flight == 3


async def test_delivery_record_json_is_what_the_cli_prints() -> None:
    record = DeliveryRecord("42", "console", "2024-05-14T07:00:00+00:00", "delivered", "Hi")
    assert json.loads(json.dumps(record.to_json())) == {
        "chat": "42",
        "platform": "console",
        "scheduled": "2024-05-14T07:00:00+00:00",
        "status": "delivered",
        "reply": "Hi",
    }


# -- daylight saving ------------------------------------------------------------------------


async def deliveries_over(
    store: Store, zone: str, start: str, days: int, schedule: Schedule
) -> list[datetime]:
    """Run a pass every 5 minutes for ``days`` days; the local times digests went out."""
    sender = FakeSender()
    ref = chat(zone)
    first = at(start, zone)
    await store.subscribe(ref, schedule, zone, first)
    scheduler = make_scheduler(store, sender)
    sent_at = []
    now = first
    while now < first + timedelta(days=days):
        if await scheduler.run_once(now):
            sent_at.append(now.astimezone(ZoneInfo(zone)))
        now += timedelta(minutes=5)
    return sent_at


CLOCK_CHANGES = [
    ("Europe/London", "2024-03-29 12:00"),  # spring forward on Sunday 31 March
    ("Europe/London", "2024-10-25 12:00"),  # fall back on Sunday 27 October
    ("America/New_York", "2024-03-08 12:00"),  # 10 March
    ("America/New_York", "2024-11-01 12:00"),  # 3 November
    ("Pacific/Auckland", "2024-04-05 12:00"),  # fall back on Sunday 7 April
    ("Pacific/Auckland", "2024-09-27 12:00"),  # spring forward on Sunday 29 September
]


@pytest.mark.parametrize(("zone", "start"), CLOCK_CHANGES)
async def test_local_time_holds_across_a_clock_change(zone: str, start: str) -> None:
    sent = await deliveries_over(InMemoryStore(), zone, start, 4, daily(8, 0))
    assert [t.time() for t in sent] == [time(8, 0)] * 4
    assert len({t.date() for t in sent}) == 4
    offsets = {t.utcoffset() for t in sent}
    assert len(offsets) == 2  # the change really happened in the window


async def test_a_time_the_clocks_skip_comes_at_the_end_of_the_gap() -> None:
    # New York's clocks went from 02:00 to 03:00 on 10 March 2024: there was no 02:30.
    sent = await deliveries_over(
        InMemoryStore(), "America/New_York", "2024-03-09 00:00", 3, daily(2, 30)
    )
    assert [t.strftime("%d %H:%M %Z") for t in sent] == [
        "09 02:30 EST",
        "10 03:00 EDT",
        "11 02:30 EDT",
    ]


async def test_a_time_the_clocks_repeat_fires_once() -> None:
    # 01:30 happened twice in London on 27 October 2024.
    sent = await deliveries_over(InMemoryStore(), LONDON, "2024-10-26 00:00", 3, daily(1, 30))
    assert [t.strftime("%d %H:%M %Z") for t in sent] == [
        "26 01:30 BST",
        "27 01:30 BST",
        "28 01:30 GMT",
    ]


# -- what platforms say back ----------------------------------------------------------------


async def test_rate_limited_waits_as_long_as_the_platform_says(store: Store) -> None:
    sender = FakeSender(
        script={"1": [DeliveryOutcome(DeliveryStatus.RETRY, "flood control", retry_after=300)]}
    )
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)
    [first] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert (first.status, first.reason) == ("retry", "flood control")
    assert await scheduler.run_once(at("2024-05-14 08:04")) == []
    [second] = await scheduler.run_once(at("2024-05-14 08:05"))
    assert second.status == "delivered"
    assert len(sender.to("1")) == 2


async def test_network_errors_back_off_then_give_up_and_say_why(store: Store) -> None:
    down = DeliveryOutcome(DeliveryStatus.RETRY, "network unreachable")
    sender = FakeSender(script={"1": [down] * 10})
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = Scheduler(
        store,
        {"telegram": sender},
        CountingDigests(),
        FakeClock(at("2024-05-14 08:00")),
        retry=RetryPolicy(max_attempts=4, first_delay=timedelta(minutes=1)),
    )
    statuses = []
    now = at("2024-05-14 08:00")
    while now < at("2024-05-14 09:00"):
        statuses += [
            (now.astimezone(ZoneInfo(LONDON)).strftime("%H:%M"), r.status)
            for r in await scheduler.run_once(now)
        ]
        now += timedelta(minutes=1)
    # Waits of 1, 2 and 4 minutes between the four tries.
    assert statuses == [
        ("08:00", "retry"),
        ("08:01", "retry"),
        ("08:03", "retry"),
        ("08:07", "failed"),
    ]
    [entry] = await store.list_outbox()
    assert entry.status is OutboxStatus.FAILED
    assert entry.reason == "gave up after 4 attempts: network unreachable"
    assert len(sender.sent) == 4


async def test_a_sender_that_raises_is_retried_and_others_still_get_theirs(store: Store) -> None:
    sender = FakeSender(raise_for={"2"})
    for i in "123":
        await store.subscribe(chat(i), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    records = await make_scheduler(store, sender).run_once(at("2024-05-14 08:00"))
    assert [(r.chat, r.status) for r in records] == [
        ("1", "delivered"),
        ("2", "retry"),
        ("3", "delivered"),
    ]
    assert "ConnectionResetError" in records[1].reason


async def test_a_gone_chat_is_deactivated_and_never_tried_again(store: Store) -> None:
    sender = FakeSender(
        script={"1": [DeliveryOutcome(DeliveryStatus.GONE, "bot was blocked by the user")]}
    )
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert (record.status, record.reason) == ("gone", "bot was blocked by the user")
    for day in (15, 16):
        assert await scheduler.run_once(at(f"2024-05-{day} 08:00")) == []
    assert len(sender.sent) == 1
    settings = await store.get_chat(chat("1").key)
    assert settings is not None and not settings.active


async def test_a_moved_chat_gets_its_digest_at_the_new_id_from_then_on(store: Store) -> None:
    moved = DeliveryOutcome(DeliveryStatus.MOVED, "group upgraded", new_chat_id="-1001")
    sender = FakeSender(script={"-1": [moved]})
    old = chat("-1")
    await store.subscribe(old, daily(8, 0), LONDON, at("2024-05-13 12:00"))
    await store.add_alert(old, "vetting", LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)

    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert (record.chat, record.status) == ("-1001", "delivered")
    await scheduler.run_once(at("2024-05-15 08:00"))

    assert [c for c, _ in sender.sent] == ["-1", "-1001", "-1001"]
    assert await store.get_subscription(old.key) is None
    sub = await store.get_subscription("telegram:-1001")
    assert sub is not None and sub.finding_cursor == 2
    assert [a.words for a in await store.list_alerts("telegram:-1001")] == ["vetting"]


@dataclass
class PartsSender:
    """Sends each line of a digest as its own message; the network drops after ``fail_at``."""

    platform: str = "telegram"
    fail_at: int | None = None
    sent: list[str] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        raise AssertionError("a sender that can resume is always asked to")

    async def send_parts(self, chat_id, reply, skip, delivered):  # type: ignore[no-untyped-def]
        parts = [line[0].text for line in reply.lines]
        for number in range(skip, len(parts)):
            if number == self.fail_at:
                self.fail_at = None
                return DeliveryOutcome(DeliveryStatus.RETRY, reason="connection reset")
            self.sent.append(parts[number])
            await delivered(number + 1, len(parts))
        return DeliveryOutcome.delivered()


class ThreePartDigests(CountingDigests):
    async def __call__(self, subs: Sequence[Subscription], now: datetime) -> list[Digest]:
        lines = tuple((Span(f"part {n} for {s.chat_id}"),) for n in (1, 2, 3) for s in subs[:1])
        return [Digest(Reply(lines=lines), 1, 1) for _ in subs]


async def test_a_retry_sends_only_the_parts_not_yet_delivered(store: Store) -> None:
    sender = PartsSender(fail_at=2)
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    clock = FakeClock(at("2024-05-14 08:00"))
    scheduler = Scheduler(store, {"telegram": sender}, ThreePartDigests(), clock)

    [first] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert (first.status, sender.sent) == ("retry", ["part 1 for 1", "part 2 for 1"])
    [again] = await scheduler.run_once(at("2024-05-14 08:05"))
    assert again.status == "delivered"
    assert sender.sent == ["part 1 for 1", "part 2 for 1", "part 3 for 1"]


async def test_a_platform_failure_is_recorded(store: Store) -> None:
    sender = FakeSender(script={"1": [DeliveryOutcome(DeliveryStatus.FAILED, "message too long")]})
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert (record.status, record.reason) == ("failed", "message too long")
    assert await scheduler.run_once(at("2024-05-14 08:30")) == []


async def test_retries_stop_six_hours_after_the_time(store: Store) -> None:
    limited = DeliveryOutcome(DeliveryStatus.RETRY, "flood control", retry_after=7 * 3600)
    sender = FakeSender(script={"1": [limited]})
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)
    await scheduler.run_once(at("2024-05-14 08:00"))
    assert await scheduler.run_once(at("2024-05-14 15:01")) == []
    [entry] = await store.list_outbox()
    assert (entry.status, entry.reason) == (OutboxStatus.FAILED, LATE_REASON)


# -- the loop -------------------------------------------------------------------------------


async def test_run_forever_runs_a_pass_each_minute_until_stopped() -> None:
    store = InMemoryStore()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    clock = FakeClock(at("2024-05-14 07:58") + timedelta(seconds=20))
    sender = FakeSender()
    scheduler = make_scheduler(store, sender, clock=clock)
    stop = asyncio.Event()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.moment += timedelta(seconds=seconds)
        if clock.moment >= at("2024-05-14 08:03"):
            stop.set()

    await scheduler.run_forever(stop, sleep)
    assert waits == [40.0, 60.0, 60.0, 60.0, 60.0]
    assert sender.to("1") == ["digest 1 for 1"]


async def test_run_forever_survives_a_failing_pass() -> None:
    store = InMemoryStore()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    clock = FakeClock(at("2024-05-14 08:00"))
    calls = 0

    async def flaky(subs: Sequence[Subscription], now: datetime) -> list[Digest]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("template engine exploded")
        return await CountingDigests()(subs, now)

    sender = FakeSender()
    scheduler = Scheduler(store, {"telegram": sender}, flaky, clock)
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        clock.moment += timedelta(seconds=seconds)
        if calls >= 2:
            stop.set()

    await scheduler.run_forever(stop, sleep)
    assert sender.to("1") == ["digest 1 for 1"]


# -- with the real digests ------------------------------------------------------------------


async def test_a_daily_reader_walks_through_every_finding_and_recommendation(
    services: Services,
) -> None:
    store = InMemoryStore()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-01 12:00"))
    sender = FakeSender()
    builder = DigestBuilder(services.corpus, services.views, store)
    scheduler = Scheduler(store, {"telegram": sender}, builder, FakeClock(at("2024-05-01 12:00")))
    for day in range(2, 20):  # 18 daily digests
        await scheduler.run_once(at(f"2024-05-{day:02d} 08:00"))
    texts = sender.to("1")
    assert len(texts) == 18
    findings = [int(t.split("Finding ")[1].split(" ")[0]) for t in texts]
    recs = [int(t.split("Recommendation ")[1].split(" ")[0]) for t in texts]
    assert findings == [1, 2, 3, 4, 5, 6, 7, 8] * 2 + [1, 2]
    assert recs == list(range(1, 17)) + [1, 2]


async def test_new_documents_and_alert_matches_come_once(services: Services) -> None:
    store = InMemoryStore()
    ref = chat("1")
    await store.subscribe(ref, daily(8, 0), LONDON, at("2024-05-01 12:00"))
    await store.add_alert(ref, "vetting", LONDON, at("2024-05-01 12:00"))
    text = (
        "Met to re-vet every officer.\n\nThe force said officers who fail vetting checks "
        "will be dismissed.\n\nThe weather was fine."
    )
    await store.add_document(
        DocumentRecord(
            "bbc-revetting",
            "Met to re-vet officers",
            at("2024-05-01 20:00"),
            text_hash(text),
            text,
            outlet="BBC News",
            date="2024-05-01",
            url="https://www.bbc.co.uk/news/x",
        )
    )
    sender = FakeSender()
    builder = DigestBuilder(services.corpus, services.views, store)
    scheduler = Scheduler(store, {"telegram": sender}, builder, FakeClock(at("2024-05-01 12:00")))
    await scheduler.run_once(at("2024-05-02 08:00"))
    await scheduler.run_once(at("2024-05-03 08:00"))
    first, second = sender.to("1")
    assert "New since your last briefing" in first and "Met to re-vet officers" in first
    assert "Matching your alerts" in first
    assert "officers who fail vetting checks will be dismissed" in first
    assert "BBC News" in first
    assert "New since" not in second and "Matching your alerts" not in second
    assert "The weather was fine" not in first


async def test_the_subscribe_arguments_round_trip() -> None:
    for text in ("daily 07:30", "weekly sun 23:59", "daily 00:00"):
        assert parse_schedule(text).to_text() == text


# -- killed mid-pass ------------------------------------------------------------------------

RUNNER = Path(__file__).with_name("digest_runner.py")
CHATS = 10_000
CONCURRENCY = 8
PASS_AT = "2024-05-14T07:00:00+00:00"
AFTER_LEASE = "2024-05-14T07:06:00+00:00"  # the default lease is 5 minutes
UNSETTLED = 64  # the scheduler's default
BATCH = 500


def runner(*args: str) -> list[str]:
    return [sys.executable, str(RUNNER), *args]


def count_digests(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    prefix, suffix = HEADER.split("{chat_id}")
    for line in output.splitlines():
        if line.startswith(prefix) and line.endswith(suffix):
            chat_id = line[len(prefix) : -len(suffix)]
            counts[chat_id] = counts.get(chat_id, 0) + 1
    return counts


def test_killed_mid_pass_and_restarted_each_chat_gets_one_digest(
    tmp_path: Path, repo_root: Path
) -> None:
    db = tmp_path / "bot.db"
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    subprocess.run(runner("setup", str(db), str(CHATS)), check=True, env=env, timeout=300)

    seen: list[str] = []
    prefix = HEADER.split("{chat_id}")[0]
    with subprocess.Popen(
        runner("pass", str(db), PASS_AT, str(CONCURRENCY)),
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as first:
        assert first.stdout is not None
        digests = 0
        # Let a few thousand digests out, then kill it without warning.
        while digests < 3_000 and (line := first.stdout.readline()):
            seen.append(line)
            digests += line.startswith(prefix)
        first.send_signal(signal.SIGKILL)
        rest = first.stdout.read()
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, "the pass finished before it could be killed"
    before = count_digests("".join(seen) + rest)

    def another_pass(when: str) -> tuple[dict[str, int], set[str]]:
        done = subprocess.run(
            runner("pass", str(db), when, str(CONCURRENCY)),
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=True,
        )
        records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        resent = {r["chat"] for r in records if RESENT_NOTE in r.get("reason", "")}
        return count_digests(done.stdout), resent

    # Restarted at once: the dead process's claims are still leased, so nothing is doubled.
    after, resent = another_pass(PASS_AT)
    assert resent == set() and not set(after) & set(before)
    # Once the leases have run out, its claimed entries are taken over.
    taken_over, resent = another_pass(AFTER_LEASE)

    assert 3_000 <= sum(before.values()) < CHATS
    total: dict[str, int] = {}
    for counts in (before, after, taken_over):
        for chat_id, n in counts.items():
            total[chat_id] = total.get(chat_id, 0) + n
    assert len(total) == CHATS  # nobody missed out
    duplicates = {c: n for c, n in total.items() if n > 1}
    assert all(n == 2 for n in duplicates.values())
    # Only sends whose outcome was not yet recorded at the kill.
    assert len(duplicates) <= CONCURRENCY + UNSETTLED
    # The pass that took over said which digests may have gone twice: those it had claimed.
    assert resent >= set(duplicates) and resent == set(taken_over)
    assert len(resent) <= BATCH

    assert another_pass(AFTER_LEASE)[0] == {}  # a pass at the same time again sends nothing


async def test_while_another_process_plans_this_one_only_delivers(store: Store) -> None:
    sender = FakeSender()
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    now = at("2024-05-14 08:00")
    await store.take_lock("digest-planner", "another-process", now, now + timedelta(minutes=5))
    scheduler = make_scheduler(store, sender)

    assert await scheduler.run_once(now) == [] and sender.sent == []
    await store.release_lock("digest-planner", "another-process")
    [record] = await scheduler.run_once(now)
    assert record.status == "delivered" and sender.to("1") == ["digest 1 for 1"]


async def test_a_retry_asked_for_at_once_waits_for_the_next_pass(store: Store) -> None:
    sender = FakeSender(script={"1": [DeliveryOutcome(DeliveryStatus.RETRY, "busy", 0.0)] * 50})
    await store.subscribe(chat("1"), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = make_scheduler(store, sender)

    [record] = await scheduler.run_once(at("2024-05-14 08:00"))

    assert record.status == "retry" and sender.to("1") == ["digest 1 for 1"]  # sent once
    [again] = await scheduler.run_once(at("2024-05-14 08:01"))
    assert again.status == "retry" and len(sender.to("1")) == 2


async def test_a_lease_is_renewed_while_its_page_is_being_sent(store: Store) -> None:
    clock = FakeClock(at("2024-05-14 08:00"))
    taken_by_another: list[int] = []

    @dataclass
    class SlowSender(FakeSender):
        async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
            clock.moment += timedelta(seconds=40)  # each send takes 40 s; the lease is 60 s
            grabbed = await store.claim_outbox(clock.moment, "another", clock.moment + LEASE)
            taken_by_another.extend(e.id for e in grabbed)
            return await super().send(chat_id, reply)

    for i in range(4):
        await store.subscribe(chat(str(i)), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    sender = SlowSender()
    scheduler = Scheduler(
        store, {"telegram": sender}, CountingDigests(), clock, 1, lease=timedelta(seconds=60)
    )

    records = await scheduler.run_once(at("2024-05-14 08:00"))

    assert [r.status for r in records] == ["delivered"] * 4
    assert taken_by_another == []  # two minutes in, the page was still this process's
    assert all(e.status is OutboxStatus.DELIVERED for e in await store.list_outbox())


LEASE = timedelta(minutes=5)


async def test_each_record_is_reported_before_its_outcome_is_written() -> None:
    events: list[tuple[str, str]] = []

    class Watching(InMemoryStore):
        async def settle_outbox(self, owner, settlements, at):  # type: ignore[no-untyped-def]
            events.extend(("written", str(s.entry_id)) for s in settlements)
            return await super().settle_outbox(owner, settlements, at)

    store = Watching()
    for i in range(6):
        await store.subscribe(chat(str(i)), daily(8, 0), LONDON, at("2024-05-13 12:00"))
    scheduler = Scheduler(
        store,
        {"telegram": FakeSender()},
        CountingDigests(),
        FakeClock(at("2024-05-14 08:00")),
        on_record=lambda record: events.append(("reported", record.chat)),
    )
    await scheduler.run_once(at("2024-05-14 08:00"))

    entry_of = {e.chat_id: str(e.id) for e in await store.list_outbox()}
    for chat_id, entry_id in entry_of.items():
        assert events.index(("reported", chat_id)) < events.index(("written", entry_id))
