"""Telegram's settings from the environment: the token, a Bot API server, a webhook."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ConfigError

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class WebhookConfig:
    """Receive updates by webhook instead of long polling.

    ``url`` is the public HTTPS address Telegram posts to (TLS is normally ended by a reverse
    proxy in front of us); we listen on ``listen:port`` at ``url``'s path. Telegram sends the
    secret token in a header with every update, and updates without it are refused.
    """

    url: str
    listen: str = "0.0.0.0"
    port: int = 8443
    secret_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigError(f"TELEGRAM_WEBHOOK_URL must be an https:// URL, not {self.url!r}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"TELEGRAM_WEBHOOK_PORT must be a port number, not {self.port}")
        if not _SECRET.fullmatch(self.secret_token):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET may have only letters, digits, _ and -, 1 to 256 of them"
            )

    @property
    def path(self) -> str:
        return urlsplit(self.url).path.lstrip("/")


@dataclass(frozen=True)
class TelegramSettings:
    token: str = field(repr=False)
    base_url: str | None = None
    webhook: WebhookConfig | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramSettings | None:
        """Settings from TELEGRAM_* variables; None when TELEGRAM_BOT_TOKEN is not set."""
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            return None
        return cls(
            token=token,
            base_url=env.get("TELEGRAM_API_BASE_URL") or None,
            webhook=_webhook_from_env(env),
        )


def shared_secret(token: str) -> str:
    """The webhook secret when none is set: derived from the bot's token, so every worker
    behind a load balancer sets the same one (a random one per process would leave only
    the last to start able to accept updates). It reveals nothing of the token."""
    return hmac.new(token.encode(), b"inquiry-bot webhook secret", hashlib.sha256).hexdigest()


def _webhook_from_env(env: Mapping[str, str]) -> WebhookConfig | None:
    url = env.get("TELEGRAM_WEBHOOK_URL", "").strip()
    if not url:
        return None
    port = env.get("TELEGRAM_WEBHOOK_PORT", "8443").strip()
    if not port.isdigit():
        raise ConfigError(f"TELEGRAM_WEBHOOK_PORT must be a port number, not {port!r}")
    extra: dict[str, Any] = {}
    if env.get("TELEGRAM_WEBHOOK_SECRET"):
        extra["secret_token"] = env["TELEGRAM_WEBHOOK_SECRET"].strip()
    elif env.get("TELEGRAM_BOT_TOKEN", "").strip():
        extra["secret_token"] = shared_secret(env["TELEGRAM_BOT_TOKEN"].strip())
    return WebhookConfig(
        url=url,
        listen=env.get("TELEGRAM_WEBHOOK_LISTEN", "0.0.0.0").strip(),
        port=int(port),
        **extra,
    )
