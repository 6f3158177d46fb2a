"""``inquiry-bot serve``: every platform whose token is set, plus the digest scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Protocol, TextIO

from adapters.app import Config, build_bot, digest_renderer, open_services
from adapters.discord.bot import DiscordAdapter, DiscordConfig
from adapters.telegram.bot import TelegramAdapter, TelegramSettings
from adapters.telegram.redact import install_token_redaction
from bot.core import BriefingBot
from bot.digests.digest import DigestBuilder
from bot.digests.scheduler import Scheduler
from bot.messages import ChatRef
from bot.ports import EveryoneModerates, PlatformModerators, Sender
from bot.services import Services
from bot.store import Store

logger = logging.getLogger(__name__)

NO_TOKEN = """\
No chat platform is configured, so there is nothing to serve.

Telegram: talk to @BotFather in Telegram, send /newbot, and set the token it gives you:
    export TELEGRAM_BOT_TOKEN=123456:ABC...
Discord: create an application and a bot at https://discord.com/developers/applications,
copy the bot's token, and set it:
    export DISCORD_BOT_TOKEN=...
then run `inquiry-bot serve` again. Both may be set at once.

To try the bot without any platform: inquiry-bot chat
"""


class Platform(Protocol):
    sender: Sender

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Tokens:
    telegram: TelegramSettings | None
    discord: DiscordConfig | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tokens:
        return cls(TelegramSettings.from_env(env), DiscordConfig.from_env(env))

    @property
    def secrets(self) -> list[str]:
        return [s.token for s in (self.telegram, self.discord) if s is not None]


def build_platforms(bot: BriefingBot, store: Store, tokens: Tokens) -> dict[str, Platform]:
    platforms: dict[str, Platform] = {}
    if tokens.telegram:
        settings = tokens.telegram

        async def removed(chat: ChatRef) -> None:
            await store.deactivate_chat(chat.key, "the bot was removed from the Telegram chat")

        async def moved(old: ChatRef, new: ChatRef) -> None:
            await store.move_chat(old.key, new)

        platforms["telegram"] = TelegramAdapter(
            bot,
            settings.token,
            base_url=settings.base_url,
            webhook=settings.webhook,
            on_chat_removed=removed,
            on_chat_moved=moved,
        )
    if tokens.discord:
        platforms["discord"] = DiscordAdapter.from_config(
            bot, tokens.discord, on_chat_gone=store.deactivate_chat
        )
    return platforms


async def serve(config: Config, env: Mapping[str, str], err: TextIO = sys.stderr) -> int:
    tokens = Tokens.from_env(env)
    if not tokens.secrets:
        err.write(NO_TOKEN)
        return 2
    install_token_redaction(*tokens.secrets)
    moderators = PlatformModerators({"console": EveryoneModerates()})
    async with open_services(config, moderators=moderators) as services:
        assert services.store is not None
        bot = build_bot(services)
        platforms = build_platforms(bot, services.store, tokens)
        await _run(services, services.store, platforms, err)
    return 0


async def _run(
    services: Services, store: Store, platforms: dict[str, Platform], err: TextIO
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started: list[Platform] = []
    scheduler_task: asyncio.Task[None] | None = None
    try:
        for name, platform in platforms.items():
            if not await _start(platform, stop):
                return  # stopped while it was still trying to connect
            started.append(platform)
            logger.info("%s started", name)
        senders = {name: p.sender for name, p in platforms.items()}
        builder = DigestBuilder(services.corpus, services.views, store, digest_renderer(services))
        scheduler = Scheduler(store, senders, builder, services.clock)
        scheduler_task = asyncio.create_task(scheduler.run_forever(stop))
        err.write(
            f"Serving on {' and '.join(n.capitalize() for n in platforms)}, with digests "
            "checked every minute. Press Ctrl-C (or send SIGTERM) to stop.\n"
        )
        err.flush()
        await _until(stop, [_watch(p) for p in platforms.values()])
    finally:
        stop.set()
        if services.sandbox is not None:
            # Template renders still queued fail now (a digest falls back to the built-in)
            # rather than hold the stop up for as long as the queue is.
            await services.sandbox.close()
        if scheduler_task is not None:
            await scheduler_task
        for platform in reversed(started):
            with contextlib.suppress(Exception):
                await platform.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        err.write("Stopped.\n")


async def _start(platform: Platform, stop: asyncio.Event) -> bool:
    """Start a platform (it may keep retrying to connect); False if stopped first."""
    starting = asyncio.ensure_future(platform.start())
    try:
        await _until(stop, [asyncio.shield(starting)])
    except BaseException:
        starting.cancel()
        raise
    if starting.done():
        starting.result()
        return True
    starting.cancel()
    await asyncio.wait({starting})  # the platform stops what it had started
    return False


async def _watch(platform: Platform) -> None:
    """Returns (or raises) when a platform's connection ends for good."""
    wait = getattr(platform, "wait_closed", None)
    if wait is None:
        await asyncio.Event().wait()
    else:
        await wait()


async def _until(stop: asyncio.Event, watchers: list[Awaitable[None]]) -> None:
    tasks = [asyncio.ensure_future(w) for w in watchers]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in [stopper, *tasks]:
            task.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
