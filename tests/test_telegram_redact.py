"""The bot token never reaches a log line, and settings come from the environment."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from adapters.telegram.bot import TelegramAdapter, TelegramSettings, WebhookConfig
from adapters.telegram.redact import REDACTED, install_token_redaction
from bot.core import BriefingBot
from bot.errors import ConfigError
from tests.telegram_standin import TOKEN, Failure, FakeBotAPI, RecordingRequest

SECRET = TOKEN.split(":", 1)[1]


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("tests.telegram.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_the_token_is_redacted_from_messages_arguments_and_tracebacks(
    log: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = log
    install_token_redaction(TOKEN, handlers=[handler])
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    logger.info("HTTP Request: POST %s %s", url, '"HTTP/1.1 200 OK"')
    preformatted = f"formatted already: {url}"  # as libraries that format eagerly do
    logger.info(preformatted)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        logger.exception("start failed")
    output = stream.getvalue()
    assert SECRET not in output
    assert output.count(REDACTED) == 3
    assert "getUpdates" in output and "start failed" in output and "rejected" in output


def test_any_token_shaped_string_is_redacted_too(
    log: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = log
    install_token_redaction(handlers=[handler])
    other = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    logger.warning(
        "a URL %s and one escaped %s",
        f"/bot{other}/sendMessage",
        "987654321%3AAAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    )
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in stream.getvalue()


def test_install_quietens_httpx_and_filters_the_root_handlers() -> None:
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    try:
        redactor = install_token_redaction(TOKEN)
        assert redactor in handler.filters
        assert httpx_logger.getEffectiveLevel() == logging.WARNING
    finally:
        root.removeHandler(handler)
        httpx_logger.setLevel(level)


async def test_a_refused_token_is_reported_without_the_token(bot: BriefingBot) -> None:
    api = FakeBotAPI()
    api.fail_next("getMe", Failure(401, "Unauthorized"))
    request = RecordingRequest(api)
    adapter = TelegramAdapter(bot, TOKEN, request=request)
    with pytest.raises(ConfigError) as caught:
        await adapter.start(receive=False)
    assert request.open == 0  # the failed start closed what it opened
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "TELEGRAM_BOT_TOKEN" in str(caught.value)


def test_settings_repr_hides_the_token_and_the_webhook_secret() -> None:
    settings = TelegramSettings(TOKEN, webhook=WebhookConfig("https://bot.example.org/tg"))
    assert SECRET not in repr(settings)
    assert settings.webhook is not None and settings.webhook.secret_token not in repr(settings)


def test_settings_from_the_environment() -> None:
    assert TelegramSettings.from_env({}) is None
    settings = TelegramSettings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/hook",
            "TELEGRAM_WEBHOOK_PORT": "8080",
            "TELEGRAM_WEBHOOK_SECRET": "s3cret_-value",
        }
    )
    assert settings is not None
    assert settings.token == TOKEN
    assert settings.base_url == "http://127.0.0.1:8081/bot"
    assert settings.webhook == WebhookConfig(
        "https://bot.example.org/telegram/hook", "0.0.0.0", 8080, "s3cret_-value"
    )
    assert settings.webhook.path == "telegram/hook"
    polling = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert polling is not None and polling.webhook is None and polling.base_url is None


def test_a_webhook_gets_a_random_secret_when_none_is_set() -> None:
    one = WebhookConfig("https://bot.example.org/hook")
    two = WebhookConfig("https://bot.example.org/hook")
    assert one.secret_token != two.secret_token and len(one.secret_token) >= 32


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"TELEGRAM_WEBHOOK_URL": "bot.example.org/hook"}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_WEBHOOK_URL": "https://b.org/h", "TELEGRAM_WEBHOOK_PORT": "eighty"}, "PORT"),
        ({"TELEGRAM_WEBHOOK_URL": "https://b.org/h", "TELEGRAM_WEBHOOK_PORT": "70000"}, "PORT"),
        ({"TELEGRAM_WEBHOOK_URL": "https://b.org/h", "TELEGRAM_WEBHOOK_SECRET": "a b"}, "SECRET"),
    ],
)
def test_bad_webhook_settings_are_explained(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, **env})
