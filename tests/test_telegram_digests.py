"""Scheduled digests through the real scheduler and the Telegram sender, to the requests made:
each way a Telegram send can end, as the scheduler and the store then see it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from telegram.error import NetworkError

from adapters.telegram.bot import TelegramAdapter
from bot.core import BriefingBot
from bot.digests.digest import Digest
from bot.digests.schedule import daily
from bot.digests.scheduler import Scheduler
from bot.messages import ChatKind, ChatRef, Reply, Span
from bot.store import InMemoryStore, Subscription
from tests.telegram_standin import (
    GROUP,
    SUPERGROUP_ID,
    TOKEN,
    Failure,
    FakeBotAPI,
    RecordingRequest,
)

LONDON = ZoneInfo("Europe/London")
OLD_GROUP = ChatRef("telegram", str(GROUP["id"]), ChatKind.GROUP, "Casey readers")


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=LONDON).astimezone(UTC)


@dataclass
class FakeClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


async def one_line_digest(subs: Sequence[Subscription], now: datetime, /) -> list[Digest]:
    line = (Span("Your briefing: ", bold=True), Span("finding 1 & recommendation 1"))
    return [Digest(Reply(lines=(line,)), 1, 1) for _ in subs]


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # see test_telegram.py


@pytest.fixture
def api() -> FakeBotAPI:
    return FakeBotAPI()


@pytest.fixture
async def store() -> InMemoryStore:
    store = InMemoryStore()
    await store.subscribe(OLD_GROUP, daily(8, 0), "Europe/London", at("2024-05-13 12:00"))
    return store


@pytest.fixture
async def scheduler(
    bot: BriefingBot, api: FakeBotAPI, store: InMemoryStore
) -> AsyncIterator[Scheduler]:
    async def no_wait(seconds: float) -> None:
        return None

    adapter = TelegramAdapter(bot, TOKEN, request=RecordingRequest(api), sleep=no_wait)
    await adapter.start(receive=False)
    yield Scheduler(
        store, {"telegram": adapter.sender}, one_line_digest, FakeClock(at("2024-05-14 08:00"))
    )
    await adapter.stop()
    assert api.unexpected == []


async def test_a_digest_is_delivered_as_html(scheduler: Scheduler, api: FakeBotAPI) -> None:
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert record.status == "delivered"
    [sent] = api.calls_to("sendMessage")
    assert sent.params["chat_id"] == str(GROUP["id"])
    assert sent.params["text"] == "<b>Your briefing: </b>finding 1 &amp; recommendation 1"


async def test_a_group_upgraded_to_a_supergroup_gets_the_digest_at_its_new_id(
    scheduler: Scheduler, api: FakeBotAPI, store: InMemoryStore
) -> None:
    api.fail_next(
        "sendMessage",
        Failure(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": SUPERGROUP_ID},
        ),
    )
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert (record.chat, record.status) == (str(SUPERGROUP_ID), "delivered")
    assert [c.params["chat_id"] for c in api.calls_to("sendMessage")] == [
        str(GROUP["id"]),
        str(SUPERGROUP_ID),
    ]
    assert await store.get_subscription(OLD_GROUP.key) is None
    assert await store.get_subscription(f"telegram:{SUPERGROUP_ID}") is not None

    await scheduler.run_once(at("2024-05-15 08:00"))
    assert api.calls_to("sendMessage")[-1].params["chat_id"] == str(SUPERGROUP_ID)


async def test_a_bot_blocked_or_removed_stops_the_chats_digests(
    scheduler: Scheduler, api: FakeBotAPI, store: InMemoryStore
) -> None:
    api.fail_next("sendMessage", Failure(403, "Forbidden: bot was kicked from the group chat"))
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert record.status == "gone"
    subscription = await store.get_subscription(OLD_GROUP.key)
    assert subscription is not None and not subscription.active
    assert await scheduler.run_once(at("2024-05-15 08:00")) == []
    assert len(api.calls_to("sendMessage")) == 1


async def test_rate_limited_waits_as_told_then_delivers(
    scheduler: Scheduler, api: FakeBotAPI
) -> None:
    api.fail_next(
        "sendMessage", Failure(429, "Too Many Requests: retry after 30", {"retry_after": 30})
    )
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert record.status == "retry"
    assert await scheduler.run_once(at("2024-05-14 08:00:10")) == []  # still waiting
    [record] = await scheduler.run_once(at("2024-05-14 08:01"))
    assert record.status == "delivered"
    assert len(api.calls_to("sendMessage")) == 2


async def test_a_network_outage_is_retried_later_then_delivered(
    scheduler: Scheduler, api: FakeBotAPI
) -> None:
    api.fail_next("sendMessage", NetworkError("connection reset"), times=2)
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert record.status == "retry" and "connection reset" in record.reason
    [record] = await scheduler.run_once(at("2024-05-14 08:30"))
    assert record.status == "delivered"
    assert len(api.calls_to("sendMessage")) == 3


async def test_a_long_digest_cut_off_part_way_is_finished_without_repeating_parts(
    bot: BriefingBot, api: FakeBotAPI, store: InMemoryStore
) -> None:
    async def three_part_digest(subs: Sequence[Subscription], now: datetime, /) -> list[Digest]:
        paragraphs = tuple(
            (Span(f"Part {n}: " + "the review found failings. " * 120),) for n in (1, 2, 3)
        )
        lines = tuple(line for p in paragraphs for line in (p, ()))
        return [Digest(Reply(lines=lines), 1, 1) for _ in subs]

    async def no_wait(seconds: float) -> None:
        return None

    adapter = TelegramAdapter(bot, TOKEN, request=RecordingRequest(api), sleep=no_wait)
    await adapter.start(receive=False)
    try:
        clock = FakeClock(at("2024-05-14 08:00"))
        scheduler = Scheduler(store, {"telegram": adapter.sender}, three_part_digest, clock)
        # The first part goes, then the network drops for the second.
        original = api._handlers["sendMessage"]
        calls = 0

        def flaky(params: dict[str, object]) -> object:
            nonlocal calls
            calls += 1
            if calls in (2, 3):  # the sender's own second try fails too
                raise NetworkError("connection reset")
            return original(params)

        api._handlers["sendMessage"] = flaky
        [first] = await scheduler.run_once(at("2024-05-14 08:00"))
        [again] = await scheduler.run_once(at("2024-05-14 08:30"))
    finally:
        await adapter.stop()

    assert (first.status, again.status) == ("retry", "delivered")
    texts = [c.params["text"] for c in api.calls_to("sendMessage")]
    starts = [t[:7] for t in texts]
    assert starts == ["Part 1:", "Part 2:", "Part 2:", "Part 2:", "Part 3:"]  # 2 tried 3 times
    assert sum(t.startswith("Part 1:") for t in api.texts()) == 1


async def test_a_message_telegram_cannot_parse_is_delivered_as_plain_text(
    scheduler: Scheduler, api: FakeBotAPI
) -> None:
    api.fail_next("sendMessage", Failure(400, "Bad Request: can't parse entities: bad tag"))
    [record] = await scheduler.run_once(at("2024-05-14 08:00"))
    assert record.status == "delivered"
    assert api.calls_to("sendMessage")[-1].params["text"] == (
        "Your briefing: finding 1 & recommendation 1"
    )
