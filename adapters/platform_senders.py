"""The chat platforms' senders for ``inquiry-bot digests``.

They are the very adapters ``serve`` runs, built by the same function
(:func:`adapters.serve.build_platforms`), so a digest pass from cron delivers exactly as
``serve``'s scheduler does. Here each adapter is only opened to send: no updates are taken,
no command menu is published and no slash commands are synced, so a pass once a minute
costs each platform one sign-in request and the digests themselves.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from telegram.error import InvalidToken, TelegramError

from adapters.app import missing_tokens
from adapters.discord.bot import DiscordAdapter
from adapters.discord.lib import discord
from adapters.serve import Platform, Tokens, build_platforms, platform_senders
from adapters.telegram.bot import TelegramAdapter
from adapters.telegram.redact import TokenRedactor, install_token_redaction
from bot.core import BriefingBot
from bot.ports import Sender
from bot.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedSenders:
    senders: Mapping[str, Sender]
    skipped: Mapping[str, str]  # platform -> its token variable is not set
    failed: Mapping[str, str]  # platform -> why it could not be signed in to


class _NotOpened(Exception):
    """A platform could not be signed in to; the message says why, without the token."""


@asynccontextmanager
async def open_senders(
    bot: BriefingBot, store: Store, env: Mapping[str, str]
) -> AsyncIterator[OpenedSenders]:
    """The senders of every platform whose token is set and that signed in, and why each
    other platform was skipped. The platforms are closed again on the way out."""
    tokens = Tokens.from_env(env)
    redactor = install_token_redaction(*tokens.secrets) if tokens.secrets else TokenRedactor()
    platforms = build_platforms(bot, store, tokens)
    skipped = {name: why for name, why in missing_tokens(env).items() if name not in platforms}
    opened: dict[str, Platform] = {}
    failed: dict[str, str] = {}
    try:
        for name, platform in platforms.items():
            try:
                await _open(platform)
            except _NotOpened as err:
                failed[name] = redactor.redact(str(err))
                logger.warning("%s: no digests on this run: %s", name, failed[name])
            else:
                opened[name] = platform
        yield OpenedSenders(platform_senders(opened), skipped, failed)
    finally:
        for platform in platforms.values():
            with contextlib.suppress(Exception):
                await platform.stop()


async def _open(platform: Platform) -> None:
    if isinstance(platform, TelegramAdapter):
        await _open_telegram(platform)
    elif isinstance(platform, DiscordAdapter):
        await _open_discord(platform)
    else:  # a platform added to serve without a way to open it here would send nothing
        raise _NotOpened(f"{type(platform).__name__} cannot be opened for sending alone")


async def _open_telegram(adapter: TelegramAdapter) -> None:
    """Sign in (getMe) and start the rate limiter: all that sending needs."""
    try:
        await adapter.application.initialize()
    except InvalidToken:
        raise _NotOpened("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN") from None
    except TelegramError as err:
        raise _NotOpened(f"could not reach Telegram ({type(err).__name__}: {err})") from None


async def _open_discord(adapter: DiscordAdapter) -> None:
    """Sign in over REST, skipping the adapter's setup, which syncs slash commands (a
    request Discord rate-limits, and nothing digests need) and no gateway connection."""

    async def no_setup() -> None:
        return None

    adapter.client.setup_hook = no_setup  # type: ignore[method-assign]
    try:
        await adapter.login()
    except discord.LoginFailure:
        raise _NotOpened("Discord refused the bot token: check DISCORD_BOT_TOKEN") from None
    except (TimeoutError, discord.HTTPException, aiohttp.ClientError, OSError) as err:
        raise _NotOpened(f"could not reach Discord ({type(err).__name__}: {err})") from None
