"""``inquiry-bot serve``: every platform whose token is set, plus the digest scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from adapters.app import (
    Config,
    build_bot,
    digest_scheduler,
    open_services,
    platform_moderators,
)
from adapters.discord.bot import DiscordAdapter, DiscordConfig
from adapters.health import HealthServer, HttpSettings, MeteredBot, Metrics, TimedIndex, store_check
from adapters.telegram.bot import TelegramAdapter, TelegramSettings
from adapters.telegram.redact import install_token_redaction
from bot.core import BriefingBot
from bot.digests.scheduler import DeliveryRecord, Scheduler, default_owner
from bot.errors import ConfigError
from bot.messages import ChatRef
from bot.ports import Sender
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
    @property
    def sender(self) -> Sender: ...

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


def platform_senders(platforms: Mapping[str, Platform]) -> dict[str, Sender]:
    """What the digest scheduler sends through: each platform's own sender, by name."""
    return {name: platform.sender for name, platform in platforms.items()}


def build_platforms(bot: BriefingBot, store: Store, tokens: Tokens) -> dict[str, Platform]:
    """Every platform whose token is set. ``serve`` runs them; ``digests`` opens them only
    to send (``adapters.platform_senders``), so both deliver through the same senders."""
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


@dataclass(frozen=True)
class ServeOptions:
    scheduler: bool = True  # False: answer only (serve --no-scheduler)


async def serve(
    config: Config,
    env: Mapping[str, str],
    err: TextIO = sys.stderr,
    options: ServeOptions | None = None,
) -> int:
    options = options or ServeOptions()
    tokens = Tokens.from_env(env)
    if not tokens.secrets:
        err.write(NO_TOKEN)
        return 2
    install_token_redaction(*tokens.secrets)
    http = HttpSettings.from_env(env)
    async with open_services(config, moderators=platform_moderators()) as services:
        assert services.store is not None
        metrics = Metrics()
        services.index = TimedIndex(services.index, metrics)  # type: ignore[assignment]
        bot = MeteredBot(build_bot(services), metrics)
        platforms = build_platforms(bot, services.store, tokens)
        process = Process(services, services.store, config, options, metrics, http)
        await _run(process, platforms, tokens, err)
    return 0


@dataclass(frozen=True)
class Process:
    """What one serve process runs besides its platforms."""

    services: Services
    store: Store
    config: Config
    options: ServeOptions
    metrics: Metrics
    http: HttpSettings | None
    owner: str = field(default_factory=default_owner)


async def _run(
    process: Process, platforms: dict[str, Platform], tokens: Tokens, err: TextIO
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started: list[Platform] = []
    tasks: list[asyncio.Task[None]] = []
    health: HealthServer | None = None
    poller = _poller_lock(tokens)
    try:
        if poller is not None:
            await _take_poller_lock(process, poller)
            tasks.append(asyncio.create_task(_keep_lock(process, poller, stop)))
        if not await _start_all(platforms, stop, started):
            return  # stopped while one was still trying to connect
        if process.options.scheduler:
            tasks.append(asyncio.create_task(_scheduler(process, platforms).run_forever(stop)))
        if process.http is not None:
            check = store_check(process.store, list(platforms), process.options.scheduler)
            health = HealthServer(process.http, process.metrics, check)
            await health.start()
        digests = "with digests checked every minute" if process.options.scheduler else (
            "answering only (--no-scheduler: another process sends digests)"
        )
        err.write(
            f"Serving on {' and '.join(n.capitalize() for n in platforms)}, {digests}. "
            "Press Ctrl-C (or send SIGTERM) to stop.\n"
        )
        err.flush()
        await _until(stop, [_watch(p) for p in platforms.values()])
    finally:
        stop.set()
        if process.services.sandbox is not None:
            # Template renders still queued fail now (a digest falls back to the built-in)
            # rather than hold the stop up for as long as the queue is.
            await process.services.sandbox.close()
        for task in tasks:
            await task
        if health is not None:
            await health.stop()
        for platform in reversed(started):
            with contextlib.suppress(Exception):
                await platform.stop()
        if poller is not None:
            with contextlib.suppress(Exception):
                await process.store.release_lock(poller, process.owner)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        err.write("Stopped.\n")


async def _start_all(
    platforms: dict[str, Platform], stop: asyncio.Event, started: list[Platform]
) -> bool:
    """Start every platform at once, so one that cannot connect yet (and keeps retrying)
    holds up none of the others' readers; each joins ``started`` as it comes up. False if
    stopped first; a platform that fails for good stops the rest from starting."""

    async def one(name: str, platform: Platform) -> bool:
        if not await _start(platform, stop):
            return False
        started.append(platform)
        logger.info("%s started", name)
        return True

    starting = [asyncio.ensure_future(one(n, p)) for n, p in platforms.items()]
    try:
        return all(await asyncio.gather(*starting))
    except BaseException:
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        raise


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


def _scheduler(process: Process, platforms: dict[str, Platform]) -> Scheduler:
    services, store = process.services, process.store

    async def count(records: Sequence[DeliveryRecord]) -> None:
        process.metrics.digest_pass(records, await store.count_unfinished())

    return digest_scheduler(
        services,
        store,
        platform_senders(platforms),
        lease=process.config.lease,
        owner=process.owner,
        after_pass=count,
    )


# -- one Telegram long-poller per bot -----------------------------------------------------------


def _poller_lock(tokens: Tokens) -> str | None:
    """The lock a long-polling process holds; webhook workers need none."""
    settings = tokens.telegram
    if settings is None or settings.webhook is not None:
        return None
    return f"telegram-poller:{settings.token.split(':', 1)[0]}"  # the bot's id, not its secret


async def _take_poller_lock(process: Process, name: str) -> None:
    now = process.services.clock.now()
    holder = await process.store.take_lock(name, process.owner, now, now + process.config.lease)
    if holder != process.owner:
        raise ConfigError(
            f"Another inquiry-bot process ({holder}) is already long-polling Telegram for this "
            "bot on this database, and Telegram lets only one process fetch a bot's updates "
            "(a second getUpdates is refused with 409 Conflict). Run several Telegram workers "
            "in webhook mode instead (set TELEGRAM_WEBHOOK_URL), or leave TELEGRAM_BOT_TOKEN "
            f"unset in this one. If that process has died, its claim lapses within "
            f"{int(process.config.lease.total_seconds())} seconds."
        )


async def _keep_lock(process: Process, name: str, stop: asyncio.Event) -> None:
    every = process.config.lease.total_seconds() / 3
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if stop.is_set():
            return
        now = process.services.clock.now()
        try:
            await process.store.take_lock(name, process.owner, now, now + process.config.lease)
        except Exception:
            logger.exception("could not renew this process's claim to Telegram long polling")


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
