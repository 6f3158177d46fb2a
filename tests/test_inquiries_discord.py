"""Two Discord channels on two inquiries: slash commands, autocomplete and digests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.app import Config, build_bot, build_services, digest_maker
from adapters.discord.bot import DiscordAdapter
from bot.digests.scheduler import Scheduler
from bot.ports import PlatformModerators
from bot.store import InMemoryStore
from tests.discord_fakes import (
    CHANNEL_ID,
    MODERATOR,
    OTHER_CHANNEL_ID,
    DiscordRecorder,
    FakeDiscord,
    Request,
)
from tests.inquiry_fixtures import FixedClock, make_corpus


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiscordRecorder]:
    recorder = DiscordRecorder()
    recorder.install(monkeypatch)
    yield recorder
    assert not recorder.unexpected, f"unexpected Discord requests: {recorder.unexpected}"


@pytest.fixture
async def fake(
    corpus_dir: Path, tmp_path: Path, recorder: DiscordRecorder
) -> AsyncIterator[FakeDiscord]:
    config = Config(corpus_dir=corpus_dir, cache_dir=tmp_path / "cache", db_path=None)
    services = build_services(config, PlatformModerators(), FixedClock(), InMemoryStore())
    adapter = DiscordAdapter(build_bot(services), "test-token", message_content=True)
    await adapter.login()
    fake = FakeDiscord(adapter, recorder)
    await fake.join_guild()
    try:
        yield fake
    finally:
        await adapter.stop()


def said(requests: list[Request]) -> str:
    return "\n".join(r.content for r in requests if r.content)


def choices(requests: list[Request]) -> list[dict[str, Any]]:
    (answer,) = requests
    assert isinstance(answer.payload, dict) and answer.payload["type"] == 8
    return list(answer.payload["data"]["choices"])


async def test_two_channels_on_two_inquiries(fake: FakeDiscord, recorder: DiscordRecorder) -> None:
    switched = said(await fake.slash("inquiry", MODERATOR, name="northgate"))
    assert "now follows The Northgate Bridge Inquiry" in switched

    here = said(await fake.slash("findings"))
    there = said(await fake.slash("findings", channel_id=OTHER_CHANNEL_ID))
    assert "The scour of the river bed was never measured" in here
    assert "8 findings" in there and "scour" not in there

    # No fixed 1–16: 17 is a recommendation here, and out of range there with the core's reply.
    assert "consulted on the memorial" in said(await fake.slash("recommendation", number=17))
    out_of_range = said(await fake.slash("recommendation", number=17, channel_id=OTHER_CHANNEL_ID))
    assert "There are 16 recommendations: 1–16" in out_of_range

    # Autocomplete offers the channel's own inquiry's recommendations.
    here_numbers = [
        c["value"] for c in choices(await fake.autocomplete("recommendation", "number", "1"))
    ]
    assert here_numbers == [1, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    there_numbers = [
        c["value"]
        for c in choices(
            await fake.autocomplete("recommendation", "number", "1", channel_id=OTHER_CHANNEL_ID)
        )
    ]
    assert there_numbers == [1, 10, 11, 12, 13, 14, 15, 16]
    findings = choices(await fake.autocomplete("finding", "number", "scour"))
    assert [c["value"] for c in findings] == [1]
    names = choices(await fake.autocomplete("inquiry", "name", "har", option_type=3))
    assert [c["value"] for c in names] == ["harbourside"]
    assert names[0]["name"] == "harbourside · Harbourside Water Inquiry"

    answer = said(await fake.slash("search", words="divers inspected the piers"))
    assert "Northgate" in answer
    other_answer = said(await fake.slash("search", words="vetting", channel_id=OTHER_CHANNEL_ID))
    assert "Casey" in other_answer and "Northgate" not in other_answer


async def test_each_channel_gets_its_own_inquirys_digest(
    fake: FakeDiscord, recorder: DiscordRecorder
) -> None:
    await fake.slash("inquiry", MODERATOR, name="harbourside")
    await fake.slash("subscribe", MODERATOR)
    await fake.slash("subscribe", MODERATOR, channel_id=OTHER_CHANNEL_ID)
    adapter = fake.adapter
    services = adapter.bot.services
    assert services.store is not None
    recorder.requests.clear()
    scheduler = Scheduler(
        services.store,
        {"discord": adapter.sender},
        digest_maker(services, services.store),
        services.clock,
    )
    records = await scheduler.run_once(datetime(2024, 5, 15, 7, 0, tzinfo=UTC))
    assert sorted(r.status for r in records) == ["delivered", "delivered"]
    by_channel = {
        int(r.url.split("/channels/")[1].split("/")[0]): r.content
        for r in recorder.requests
        if r.method == "POST" and r.content
    }
    assert "Harbourside Water Inquiry" in by_channel[CHANNEL_ID]
    assert "Finding 1 of 3" in by_channel[CHANNEL_ID]
    assert "Finding 1 of 8" in by_channel[OTHER_CHANNEL_ID]
