"""The Telegram adapter: python-telegram-bot's ``Application`` around the platform-neutral core.

Updates become :class:`IncomingMessage` s, the core's replies become HTML messages (see
``adapters.telegram.render``); nothing about briefings is decided here. Construct it with the
core and the token, ``await start()``, and ``await stop()`` on the way out::

    adapter = TelegramAdapter(bot, settings.token, base_url=settings.base_url,
                              webhook=settings.webhook, on_chat_removed=..., on_chat_moved=...)
    scheduler_senders["telegram"] = adapter.sender
    await adapter.start()
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    Chat,
    Message,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import (
    BadRequest,
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from adapters.inbound import clean_optional, clean_text
from adapters.reconnect import START_BACKOFF, doubled
from adapters.telegram.delivery import PLATFORM, InFlightCap, TelegramSender, retry_seconds
from adapters.telegram.guard import FloodGate, TelegramModerators, Verdict
from adapters.telegram.http import AiohttpRequest
from adapters.telegram.logs import quieten_stop_errors
from adapters.telegram.redact import TokenRedactor, install_token_redaction
from adapters.telegram.render import CallbackTable
from adapters.telegram.settings import TelegramSettings, WebhookConfig
from bot.commands import CommandTable
from bot.core import BriefingBot
from bot.errors import ConfigError
from bot.messages import (
    ChatKind,
    ChatRef,
    CommandInfo,
    DeliveryStatus,
    IncomingMessage,
    SenderRef,
    text_reply,
)
from bot.paging import EXPIRED
from bot.ports import PlatformModerators

__all__ = [
    "FloodGate",
    "TelegramAdapter",
    "TelegramSender",
    "TelegramSettings",
    "WebhookConfig",
    "install_token_redaction",
]

logger = logging.getLogger(__name__)

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
ChatRemoved = Callable[[ChatRef], Awaitable[None]]
ChatMoved = Callable[[ChatRef, ChatRef], Awaitable[None]]

ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
FLOOD_NOTICE = (
    "You are sending messages faster than I can answer, so I will skip this chat's messages "
    "for a little while. Please wait a minute, then ask again."
)
SLOW_DOWN = "Slow down a little, please."
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_ADDRESSED = re.compile(r"/[A-Za-z0-9_]+@([A-Za-z0-9_]+)")
# Bot API requests on the wire at once: Telegram allows about 30 sends a second, and at
# 0.1-0.3 s a round trip that needs fewer than 10; more connections only cost CPU.
DEFAULT_POOL = 8
_GONE_STATUSES = frozenset({ChatMemberStatus.LEFT.value, ChatMemberStatus.BANNED.value})


def bot_commands(menu: tuple[CommandInfo, ...]) -> list[BotCommand]:
    """Menu entries Telegram accepts: lower-case names of up to 32, descriptions up to 256."""
    commands = []
    for info in menu:
        name = info.name.lower()
        if not _COMMAND_NAME.fullmatch(name):
            logger.warning("command /%s cannot be in Telegram's menu; left out", info.name)
            continue
        description = (info.summary or info.usage or name).strip()
        if len(description) > 256:
            description = description[:255] + "…"
        commands.append(BotCommand(name, description.ljust(3)))
    return commands


def chat_ref(chat: Chat) -> ChatRef:
    if chat.type == ChatType.PRIVATE:
        kind = ChatKind.PRIVATE
    elif chat.type == ChatType.CHANNEL:
        kind = ChatKind.CHANNEL
    else:
        kind = ChatKind.GROUP  # groups and supergroups alike
    return ChatRef(PLATFORM, str(chat.id), kind, clean_optional(chat.effective_name))


def sender_ref(message: Message) -> SenderRef:
    """Who wrote the message; a group admin posting as the group itself is marked as such."""
    if message.sender_chat is not None:
        as_chat = message.sender_chat
        anonymous_admin = as_chat.id == message.chat.id
        name = clean_text(as_chat.effective_name or "")
        return SenderRef(str(as_chat.id), name, anonymous_admin)
    user = message.from_user
    return user_ref(user) if user else SenderRef("unknown")


def user_ref(user: User) -> SenderRef:
    return SenderRef(str(user.id), clean_text(user.full_name))


class TelegramAdapter:
    """Long polling by default, a webhook when configured; see the module docstring.

    ``sender`` delivers scheduled digests, ``moderators`` answers for Telegram chats (it is
    registered with the core's :class:`PlatformModerators`; any other moderator check in the
    services is replaced, so that no group member passes for an admin), and ``application``
    is python-telegram-bot's, for tests.
    """

    def __init__(
        self,
        bot: BriefingBot,
        token: str,
        *,
        base_url: str | None = None,
        webhook: WebhookConfig | None = None,
        on_chat_removed: ChatRemoved | None = None,
        on_chat_moved: ChatMoved | None = None,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
        rate_limiter: BaseRateLimiter[Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        flood: FloodGate | None = None,
        moderator_ttl: float = 60.0,
        concurrency: int = 256,
        pool_size: int = DEFAULT_POOL,
        start_backoff: float = START_BACKOFF,
    ) -> None:
        quieten_stop_errors()
        self.bot = bot
        self.sleep = sleep
        self.start_backoff = start_backoff
        self.webhook = webhook
        self.on_chat_removed = on_chat_removed
        self.on_chat_moved = on_chat_moved
        self.redactor = TokenRedactor(token)
        self.application = _build_application(
            token, base_url, request, get_updates_request, rate_limiter, concurrency, pool_size
        )
        self.callbacks = CallbackTable(clock=clock)
        self.sender = TelegramSender(
            self.application.bot, self.callbacks, redact=self.redactor.redact, sleep=sleep
        )
        self.moderators = TelegramModerators(self._member_status, clock=clock, ttl=moderator_ttl)
        self.flood = flood or FloodGate(clock=clock)
        self._attach_moderators()
        self._add_handlers()

    @property
    def table(self) -> CommandTable:
        return self.bot.table

    async def start(self, *, receive: bool = True) -> None:
        """Log in (getMe), publish the command menu, and start taking updates.

        With ``receive=False`` nothing is fetched: updates are fed to ``application`` directly.
        While Telegram cannot be reached (or asks us to wait) it says so in one line and tries
        again, backing off up to once a minute, until it succeeds or is cancelled. If starting
        fails, what was started is stopped again before the error is raised.
        """
        try:
            await self._start_when_reachable(receive)
        except BaseException:
            await self.stop()
            raise

    async def _start_when_reachable(self, receive: bool) -> None:
        backoff = self.start_backoff
        while True:
            try:
                await self._start(receive)
                return
            except RetryAfter as err:
                wait = retry_seconds(err)
                reason = self.redactor.redact(f"{type(err).__name__}: {err.message}")
            except NetworkError as err:  # timeouts and connection failures
                if isinstance(err, BadRequest):
                    raise  # Telegram answered: trying again would get the same answer
                wait, backoff = backoff, doubled(backoff)
                reason = self.redactor.redact(f"{type(err).__name__}: {err.message}")
            logger.warning("could not reach Telegram (%s); trying again in %.0f s", reason, wait)
            await self.stop()  # what had started, so the next try starts afresh
            await self.sleep(wait)

    async def _start(self, receive: bool) -> None:
        try:
            await self.application.initialize()
        except InvalidToken:
            # The library's message quotes the token; this one does not.
            raise ConfigError(
                "Telegram refused the bot token: check TELEGRAM_BOT_TOKEN (from @BotFather)"
            ) from None
        me = self.application.bot
        self.bot.services.bot_name = me.username
        logger.info("signed in to Telegram as @%s", me.username)
        await self.publish_menu()
        await self.application.start()
        if receive:
            await self._receive()

    async def _receive(self) -> None:
        updater = self.application.updater
        assert updater is not None
        if self.webhook is None:
            await updater.start_polling(
                allowed_updates=list(ALLOWED_UPDATES), error_callback=self._polling_failed
            )
            logger.info("Telegram: long polling for updates")
            return
        await updater.start_webhook(
            listen=self.webhook.listen,
            port=self.webhook.port,
            url_path=self.webhook.path,
            webhook_url=self.webhook.url,
            secret_token=self.webhook.secret_token,
            allowed_updates=list(ALLOWED_UPDATES),
        )
        logger.info(
            "Telegram: webhook %s, listening on %s:%d",
            self.webhook.url,
            self.webhook.listen,
            self.webhook.port,
        )

    def _polling_failed(self, err: TelegramError) -> None:
        if isinstance(err, Conflict):
            # Another process polls with this token (one on another database, or by hand).
            logger.error(
                "Telegram refused to hand this process the bot's updates (409 Conflict): "
                "another process is long-polling the same bot, and Telegram allows only one. "
                "Stop the other one, or run the workers in webhook mode (TELEGRAM_WEBHOOK_URL)."
            )
            return
        # python-telegram-bot retries by itself (1 s, growing to 30 s); its default here logs
        # an ERROR with a traceback at every failed poll while the network is down.
        reason = self.redactor.redact(f"{type(err).__name__}: {err.message}")
        logger.warning("could not fetch updates from Telegram (%s); trying again", reason)

    async def stop(self) -> None:
        """Stop taking updates, finish what is in hand, and close the HTTP clients."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        # After a failed start the Application is not initialized and leaves its bot's HTTP
        # clients open; this closes them (and does nothing if they are closed already).
        await app.bot.shutdown()

    async def publish_menu(self) -> None:
        """setMyCommands: everyone sees the reading commands; admins and private chats all."""
        menu = self.table.menu()
        everyone = bot_commands(tuple(c for c in menu if not c.moderator_only))
        full = bot_commands(menu)
        scopes = (
            (BotCommandScopeDefault(), everyone),
            (BotCommandScopeAllPrivateChats(), full),
            (BotCommandScopeAllChatAdministrators(), full),
        )
        try:
            for scope, commands in scopes:
                await self.application.bot.set_my_commands(commands, scope=scope)
        except TelegramError as err:
            logger.warning("could not publish the command menu: %s", self.redactor.redact(str(err)))

    def _attach_moderators(self) -> None:
        services = self.bot.services
        if isinstance(services.moderators, PlatformModerators):
            services.moderators.register(PLATFORM, self.moderators)
        else:
            services.moderators = PlatformModerators({PLATFORM: self.moderators})

    async def _member_status(self, chat_id: str, user_id: str) -> str:
        member = await self.application.bot.get_chat_member(chat_id, int(user_id))
        return str(member.status)

    def _add_handlers(self) -> None:
        app = self.application
        new_messages = filters.UpdateType.MESSAGE
        app.add_handler(MessageHandler(new_messages & filters.StatusUpdate.MIGRATE, self._migrated))
        app.add_handler(MessageHandler(new_messages & filters.TEXT, self._message))
        app.add_handler(CallbackQueryHandler(self._button))
        app.add_handler(ChatMemberHandler(self._membership, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(self._error)

    def _for_me(self, message: Message) -> bool:
        """Private chats: everything. Groups: commands and replies to the bot's messages."""
        if message.chat.type == ChatType.PRIVATE:
            return True
        if message.chat.type == ChatType.CHANNEL:
            return False
        text = message.text or ""
        if text.startswith("/"):
            # "/cmd@OtherBot" is for another bot in the group, and must not count towards
            # this chat's flood limit either.
            addressed = _ADDRESSED.match(text)
            me = self.application.bot.username
            return addressed is None or addressed.group(1).lower() == me.lower()
        replied = message.reply_to_message
        return bool(
            replied and replied.from_user and replied.from_user.id == self.application.bot.id
        )

    async def _message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.text is None or not self._for_me(message):
            return
        text = clean_text(message.text)
        incoming = IncomingMessage(chat_ref(message.chat), sender_ref(message), text)
        verdict = self.flood.check(incoming.chat.key)
        in_group = message.chat.type != ChatType.PRIVATE
        thread = message.message_thread_id if message.is_topic_message else None
        reply_to = message.message_id if in_group else None
        if verdict is Verdict.NOTICE:
            await self.sender.deliver(
                incoming.chat.id, text_reply(FLOOD_NOTICE), reply_to=reply_to, thread_id=thread
            )
        if verdict is not Verdict.ALLOW:
            return
        reply = await self.bot.handle(incoming)
        if reply is None:
            return
        outcome = await self.sender.answer(
            incoming.chat.id, reply, reply_to=reply_to, thread_id=thread
        )
        if outcome.status is not DeliveryStatus.DELIVERED:
            logger.warning("reply to chat %s not delivered: %s", incoming.chat.id, outcome.reason)

    async def _button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        payload = self.callbacks.payload_for(query.data) if query.data else None
        message = query.message
        if payload is None or message is None:
            await self._answer(query.answer(EXPIRED))
            return
        chat = chat_ref(message.chat)
        verdict = self.flood.check(chat.key)
        if verdict is not Verdict.ALLOW:
            await self._answer(query.answer(SLOW_DOWN if verdict is Verdict.NOTICE else None))
            return
        incoming = IncomingMessage(chat, user_ref(query.from_user), payload, from_button=True)
        reply = await self.bot.handle(incoming)
        await self._answer(query.answer())
        if reply is None:
            return
        # A page of the same list replaces the page shown; anything else is a new message.
        if reply.pages > 1 and isinstance(message, Message):
            if await self.sender.edit(chat.id, message.message_id, reply):
                return
        thread = message.message_thread_id if isinstance(message, Message) else None
        await self.sender.answer(chat.id, reply, thread_id=thread)

    async def _answer(self, answering: Awaitable[bool]) -> None:
        """Answer a button press; a press too old to answer is not worth an error."""
        try:
            await answering
        except TelegramError as err:
            logger.info("could not answer a button press: %s", err)

    async def _membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if change is None:
            return
        if str(change.new_chat_member.status) not in _GONE_STATUSES:
            return
        chat = chat_ref(change.chat)
        logger.info("removed from Telegram chat %s (%s)", chat.id, change.new_chat_member.status)
        self.moderators.forget_chat(chat.id)
        if self.on_chat_removed is not None:
            await self.on_chat_removed(chat)

    async def _migrated(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.migrate_to_chat_id is None:
            return  # the new supergroup's half of the pair says the same thing again
        old = chat_ref(message.chat)
        new = ChatRef(PLATFORM, str(message.migrate_to_chat_id), ChatKind.GROUP, old.title)
        logger.info("Telegram group %s is now supergroup %s", old.id, new.id)
        self.moderators.forget_chat(old.id)
        if self.on_chat_moved is not None:
            await self.on_chat_moved(old, new)

    async def _error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        logger.error(
            "error while handling Telegram update %s: %s",
            update_id,
            self.redactor.redact(repr(context.error)),
            exc_info=context.error,
        )


def _build_application(
    token: str,
    base_url: str | None,
    request: BaseRequest | None,
    get_updates_request: BaseRequest | None,
    rate_limiter: BaseRateLimiter[Any] | None,
    concurrency: int,
    pool_size: int,
) -> TelegramApp:
    builder = (
        ApplicationBuilder()
        .token(token)
        .concurrent_updates(concurrency)
        .rate_limiter(InFlightCap(rate_limiter or AIORateLimiter(), pool_size))
        .job_queue(None)
    )
    if base_url:
        builder = builder.base_url(base_url)
    # InFlightCap keeps requests within the pool, so none waits for a connection.
    builder = builder.request(request or AiohttpRequest(pool_size))
    builder = builder.get_updates_request(get_updates_request or request or AiohttpRequest(1))
    return builder.build()
