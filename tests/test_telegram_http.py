"""The real HTTP stack (python-telegram-bot's HTTPXRequest, long polling, the webhook server)
against the stand-in Bot API on 127.0.0.1, reached through TELEGRAM_API_BASE_URL."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.app import build_bot
from adapters.telegram.bot import TelegramAdapter, TelegramSettings
from adapters.telegram.redact import REDACTED, TokenRedactor
from bot.core import BriefingBot
from bot.services import Services
from bot.store import InMemoryStore
from tests.telegram_standin import (
    BEN,
    BOT_USERNAME,
    GROUP,
    TOKEN,
    Failure,
    FakeBotAPI,
    StandinServer,
    bot_message,
    button_press,
    text_message,
)


@pytest.fixture
def bot(services: Services) -> BriefingBot:
    services.store = InMemoryStore()
    return build_bot(services)


@pytest.fixture
async def standin() -> AsyncIterator[tuple[FakeBotAPI, StandinServer]]:
    api = FakeBotAPI()
    server = StandinServer(api)
    await server.start()
    yield api, server
    await server.stop()
    assert api.unexpected == [], f"unexpected requests: {api.unexpected}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_long_polling_over_http_end_to_end(
    bot: BriefingBot,
    standin: tuple[FakeBotAPI, StandinServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, server = standin
    # httpx logs every request URL, token included; the filter must take it out.
    caplog.handler.addFilter(TokenRedactor(TOKEN))
    caplog.set_level(logging.DEBUG)
    settings = TelegramSettings.from_env(
        {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": server.base_url}
    )
    assert settings is not None
    adapter = TelegramAdapter(bot, settings.token, base_url=settings.base_url)
    await adapter.start()
    try:
        assert bot.services.bot_name == BOT_USERNAME
        api.push_update(text_message("/recommendations"))
        await api.wait_until(lambda: len(api.calls_to("sendMessage")) == 1)
        [first] = api.calls_to("sendMessage")
        assert "Page 1 of 2" in first.params["text"]
        [[next_button]] = first.params["reply_markup"]["inline_keyboard"]

        shown = bot_message(text="page one")
        api.push_update(button_press(next_button["callback_data"], shown))
        await api.wait_until(lambda: len(api.calls_to("editMessageText")) == 1)
        assert "Page 2 of 2" in api.calls_to("editMessageText")[0].params["text"]
        await api.wait_until(lambda: len(api.calls_to("answerCallbackQuery")) == 1)

        api.push_update(text_message(f"/subscribe@{BOT_USERNAME}", chat=GROUP, sender=BEN))
        await api.wait_until(lambda: len(api.texts(GROUP["id"])) == 1)
        assert api.calls_to("getChatMember")
    finally:
        await adapter.stop()
    methods = {call.method for call in api.calls}
    assert {
        "getMe",
        "setMyCommands",
        "deleteWebhook",
        "getUpdates",
        "sendMessage",
        "editMessageText",
        "answerCallbackQuery",
        "getChatMember",
    } <= methods
    assert f"/bot{REDACTED}" in caplog.text  # python-telegram-bot logs its API URL
    assert TOKEN.split(":")[1] not in caplog.text
    polls = api.calls_to("getUpdates")
    assert set(polls[0].params["allowed_updates"]) == {
        "message",
        "callback_query",
        "my_chat_member",
    }


async def test_a_webhook_takes_updates_that_carry_the_secret(
    bot: BriefingBot, standin: tuple[FakeBotAPI, StandinServer]
) -> None:
    api, server = standin
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    settings = TelegramSettings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": server.base_url,
            "TELEGRAM_WEBHOOK_URL": hook,
            "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
            "TELEGRAM_WEBHOOK_PORT": str(port),
            "TELEGRAM_WEBHOOK_SECRET": "the-shared-secret",
        }
    )
    assert settings is not None and settings.webhook is not None
    adapter = TelegramAdapter(
        bot, settings.token, base_url=settings.base_url, webhook=settings.webhook
    )
    await adapter.start()
    try:
        [registered] = api.calls_to("setWebhook")
        assert registered.params["url"] == hook
        assert registered.params["secret_token"] == "the-shared-secret"
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                hook,
                json=text_message("/finding 1"),
                headers={"X-Telegram-Bot-Api-Secret-Token": "a-guess"},
            )
            assert forged.status_code == 403
            genuine = await client.post(
                hook,
                json=text_message("/finding 2"),
                headers={"X-Telegram-Bot-Api-Secret-Token": "the-shared-secret"},
            )
            assert genuine.status_code == 200
        await api.wait_until(lambda: len(api.calls_to("sendMessage")) == 1)
        [text] = api.texts()
        assert "Finding 2 of 8" in text
    finally:
        await adapter.stop()
    assert api.calls_to("getUpdates") == []


async def test_an_unreachable_telegram_at_start_is_retried_with_backoff(
    bot: BriefingBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(TokenRedactor(TOKEN))
    port = free_port()  # nothing listens there yet: connections are refused
    api = FakeBotAPI()
    server = StandinServer(api, port=port)
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 3:
            await server.start()  # Telegram is back

    adapter = TelegramAdapter(
        bot, TOKEN, base_url=f"http://127.0.0.1:{port}/bot", sleep=sleep
    )
    try:
        with caplog.at_level(logging.WARNING):
            await adapter.start()
        assert bot.services.bot_name == BOT_USERNAME
        assert adapter.application.updater and adapter.application.updater.running
        assert [c.method for c in api.calls][:2] == ["getMe", "setMyCommands"]
    finally:
        await adapter.stop()
        await server.stop()
    assert delays == [1.0, 2.0, 4.0]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(";")[1] for r in warnings] == [
        " trying again in 1 s",
        " trying again in 2 s",
        " trying again in 4 s",
    ]
    for record in warnings:
        message = record.getMessage()
        assert message.startswith("could not reach Telegram (NetworkError: aiohttp.Client")
        assert "\n" not in message and record.exc_info is None
        assert TOKEN.split(":")[1] not in message


async def test_a_rate_limit_at_start_is_waited_out(
    bot: BriefingBot,
    standin: tuple[FakeBotAPI, StandinServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else RetryAfter warns (an error here)
    api, server = standin
    api.fail_next("getMe", Failure(429, "Too Many Requests: retry after 9", {"retry_after": 9}))
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    adapter = TelegramAdapter(bot, TOKEN, base_url=server.base_url, sleep=sleep)
    try:
        await adapter.start()
    finally:
        await adapter.stop()
    assert delays == [9.0] and len(api.calls_to("getMe")) == 2


async def test_losing_telegram_while_polling_is_one_warning_line_a_failure(
    bot: BriefingBot, caplog: pytest.LogCaptureFixture
) -> None:
    api = FakeBotAPI()
    server = StandinServer(api)
    await server.start()
    adapter = TelegramAdapter(bot, TOKEN, base_url=server.base_url)
    try:
        await adapter.start()
        with caplog.at_level(logging.WARNING):
            await server.stop()  # the long poll in flight is cut off; the next ones refused
            for _ in range(500):
                if caplog.records:
                    break
                await asyncio.sleep(0.01)
            outage = list(caplog.records)
    finally:
        await adapter.stop()
    assert outage, "the lost connection was not reported"
    for record in outage:
        assert record.levelno == logging.WARNING and record.exc_info is None
        assert record.getMessage().startswith("could not fetch updates from Telegram (")
        assert TOKEN.split(":")[1] not in record.getMessage()


def test_webhook_workers_share_a_secret_derived_from_the_token_unless_one_is_set() -> None:
    from adapters.telegram.settings import TelegramSettings

    def secret(**env: str) -> str:
        settings = TelegramSettings.from_env({"TELEGRAM_WEBHOOK_URL": "https://b.org/h", **env})
        assert settings is not None and settings.webhook is not None
        return settings.webhook.secret_token

    one, again = secret(TELEGRAM_BOT_TOKEN="123:AAA"), secret(TELEGRAM_BOT_TOKEN="123:AAA")
    assert one == again  # two workers of one bot accept the same updates
    assert secret(TELEGRAM_BOT_TOKEN="456:BBB") != one
    assert "AAA" not in one and len(one) == 64
    assert secret(TELEGRAM_BOT_TOKEN="123:AAA", TELEGRAM_WEBHOOK_SECRET="mine") == "mine"
