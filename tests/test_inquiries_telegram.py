"""Two Telegram chats on two inquiries, through the real Application and the core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from adapters.app import Config, build_bot, build_services, digest_maker
from adapters.telegram.bot import TelegramAdapter
from bot.digests.scheduler import Scheduler
from bot.ports import EveryoneModerates
from bot.store import InMemoryStore
from tests.inquiry_fixtures import FixedClock, make_corpus
from tests.telegram_standin import (
    ADA,
    BEN,
    PRIVATE,
    PRIVATE_BEN,
    TOKEN,
    FakeBotAPI,
    RecordingRequest,
    text_message,
)


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def api() -> FakeBotAPI:
    return FakeBotAPI()


@pytest.fixture
async def adapter(
    corpus_dir: Path, tmp_path: Path, api: FakeBotAPI
) -> AsyncIterator[TelegramAdapter]:
    async def no_wait(seconds: float) -> None:
        return None

    config = Config(corpus_dir=corpus_dir, cache_dir=tmp_path / "cache", db_path=None)
    services = build_services(config, EveryoneModerates(), FixedClock(), InMemoryStore())
    adapter = TelegramAdapter(
        build_bot(services), TOKEN, request=RecordingRequest(api), sleep=no_wait
    )
    await adapter.start(receive=False)
    yield adapter
    await adapter.stop()
    assert api.unexpected == []


async def say(
    adapter: TelegramAdapter,
    api: FakeBotAPI,
    text: str,
    chat: dict[str, Any],
    sender: dict[str, Any],
) -> str:
    before = len(api.texts(chat["id"]))
    update = Update.de_json(text_message(text, chat=chat, sender=sender), adapter.application.bot)
    await adapter.application.process_update(update)
    return "\n".join(api.texts(chat["id"])[before:])


async def test_the_menu_has_the_inquiry_commands(adapter: TelegramAdapter, api: FakeBotAPI) -> None:
    menus = {c.params["scope"]["type"]: c.params["commands"] for c in api.calls_to("setMyCommands")}
    everyone = {c["command"] for c in menus["default"]}
    admins = {c["command"] for c in menus["all_chat_administrators"]}
    assert "inquiries" in everyone and "inquiry" not in everyone  # switching is for moderators
    assert {"inquiries", "inquiry"} <= admins


async def test_two_chats_on_two_inquiries(adapter: TelegramAdapter, api: FakeBotAPI) -> None:
    assert "now follows" in await say(adapter, api, "/inquiry northgate", PRIVATE, ADA)
    ada = await say(adapter, api, "/findings", PRIVATE, ADA)
    ben = await say(adapter, api, "/findings", PRIVATE_BEN, BEN)
    assert "The scour of the river bed was never measured" in ada
    assert "8 findings" in ben and "scour" not in ben
    assert "consulted on the memorial" in await say(adapter, api, "/rec 17", PRIVATE, ADA)
    assert "There are 16 recommendations" in await say(adapter, api, "/rec 17", PRIVATE_BEN, BEN)
    answer = await say(adapter, api, "were the piers inspected by divers?", PRIVATE, ADA)
    assert "Northgate" in answer
    assert "Northgate" not in await say(adapter, api, "vetting", PRIVATE_BEN, BEN)

    await say(adapter, api, "/subscribe", PRIVATE, ADA)
    await say(adapter, api, "/subscribe", PRIVATE_BEN, BEN)
    services = adapter.bot.services
    assert services.store is not None
    scheduler = Scheduler(
        services.store,
        {"telegram": adapter.sender},
        digest_maker(services, services.store),
        services.clock,
    )
    before_ada, before_ben = len(api.texts(PRIVATE["id"])), len(api.texts(PRIVATE_BEN["id"]))
    await scheduler.run_once(datetime(2024, 5, 15, 7, 0, tzinfo=UTC))
    [ada_digest] = api.texts(PRIVATE["id"])[before_ada:]
    [ben_digest] = api.texts(PRIVATE_BEN["id"])[before_ben:]
    assert "Northgate" in ada_digest and "Finding 1 of 5" in ada_digest
    assert "Casey" in ben_digest and "Finding 1 of 8" in ben_digest
