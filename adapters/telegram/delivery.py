"""Sending replies to Telegram chats, and what became of each send.

The scheduler reads the outcome: ``GONE`` (blocked, removed, chat deleted: never try again),
``MOVED`` (a group became a supergroup: nothing was delivered, send again to
``new_chat_id``), ``RETRY`` (rate limited: try after ``retry_after`` seconds; or the network
failed ``attempts`` times in a row, a short backoff apart: no ``retry_after``, the scheduler
backs off and bounds its attempts) or ``FAILED`` (Telegram refused the message).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import BaseRateLimiter

from adapters.telegram.render import CallbackTable, html_to_plain, keyboard, render_html
from bot.messages import DeliveryOutcome, DeliveryStatus, Reply

logger = logging.getLogger(__name__)
_ANSWER_WAITS = 2  # rate limits waited out for one answer before it is given up

PLATFORM = "telegram"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_PARSE_ERROR = "can't parse entities"
_CHAT_GONE = ("chat not found", "bot was kicked", "chat was deleted", "user is deactivated")
_NOT_MODIFIED = "message is not modified"

Sleep = Callable[[float], Awaitable[None]]
ApiCall = Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]]


class InFlightCap(BaseRateLimiter[Any]):
    """Another rate limiter, with at most ``limit`` Bot API requests on the wire at once.

    A burst of replies then waits here, in a plain queue, after the inner limiter has let
    it through, instead of in httpcore's connection pool, whose bookkeeping grows with the
    square of the requests queued in it (hundreds of concurrent updates made each send cost
    milliseconds of CPU). Only the HTTP exchange holds a place, never the inner limiter's
    waits, so a rate-limited group cannot hold up other chats' sends.
    """

    def __init__(self, inner: BaseRateLimiter[Any], limit: int) -> None:
        self.inner = inner
        self.slots = asyncio.Semaphore(limit)

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def process_request(
        self,
        callback: ApiCall,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        async def capped(*call_args: Any, **call_kwargs: Any) -> Any:
            async with self.slots:
                try:
                    return await callback(*call_args, **call_kwargs)
                except RetryAfter as err:
                    # Carried past the inner limiter, which logs every 429 it does not retry
                    # itself as an ERROR with a traceback; the sender waits it out instead.
                    raise _Passing(err) from None

        try:
            return await self.inner.process_request(
                capped, args, kwargs, endpoint, data, rate_limit_args
            )
        except _Passing as passing:
            raise passing.error from None


class _Passing(Exception):
    """A RetryAfter on its way through the inner rate limiter."""

    def __init__(self, error: RetryAfter) -> None:
        super().__init__(error)
        self.error = error


def retry_seconds(err: RetryAfter) -> float:
    """How long Telegram asked us to wait, whichever type this library version returns."""
    with warnings.catch_warnings():
        # python-telegram-bot 22 warns that the attribute will become a timedelta.
        warnings.simplefilter("ignore", DeprecationWarning)
        value: Any = err.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def _outcome(status: DeliveryStatus, reason: str, **extra: Any) -> DeliveryOutcome:
    return DeliveryOutcome(status, reason=reason, **extra)


class TelegramSender:
    """Implements the core's ``Sender`` for Telegram; also sends the adapter's own replies."""

    platform = PLATFORM

    def __init__(
        self,
        bot: Bot,
        callbacks: CallbackTable,
        *,
        redact: Callable[[str], str] = str,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 2,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        self.bot = bot
        self.callbacks = callbacks
        self.redact = redact
        self.sleep = sleep
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        return await self.deliver(chat_id, reply)

    async def answer(
        self,
        chat_id: str,
        reply: Reply,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> DeliveryOutcome:
        """An answer to a reader: a rate limit is waited out rather than the answer dropped
        (a digest is retried by the scheduler; an answer has nobody to retry it). It waits in
        this message's own handler, so no other chat waits with it; at most twice, each
        wait up to ``max_wait``, and the parts already sent are not sent again."""
        sent = 0

        async def count(done: int, total: int) -> None:
            nonlocal sent
            sent = done

        waits = 0
        while True:
            outcome = await self.deliver(
                chat_id, reply, reply_to=reply_to, thread_id=thread_id, skip=sent, delivered=count
            )
            wait = outcome.retry_after
            if outcome.status is not DeliveryStatus.RETRY or wait is None:
                return outcome
            if waits >= _ANSWER_WAITS or wait > self.max_wait:
                return outcome
            waits += 1
            logger.warning(
                "Telegram asks the bot to slow down (%s): answering chat %s in %.0f s",
                outcome.reason,
                chat_id,
                wait,
            )
            await self.sleep(wait)

    async def send_parts(
        self,
        chat_id: str,
        reply: Reply,
        skip: int,
        delivered: Callable[[int, int], Awaitable[None]],
    ) -> DeliveryOutcome:
        """A digest's messages from number ``skip`` on, reporting each one sent, so that a
        retry after a failure part way sends only the rest (the scheduler records them)."""
        return await self.deliver(chat_id, reply, skip=skip, delivered=delivered)

    async def deliver(
        self,
        chat_id: str,
        reply: Reply,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
        skip: int = 0,
        delivered: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> DeliveryOutcome:
        """Every chunk of the reply in order; the buttons go under the last one."""
        chunks = render_html(reply)
        if not chunks:
            return _outcome(DeliveryStatus.DELIVERED, "nothing to send")
        markup = keyboard(reply, self.callbacks)
        for number, chunk in enumerate(chunks):
            if number < skip:
                continue
            options: dict[str, Any] = {"message_thread_id": thread_id}
            if number == 0 and reply_to is not None:
                options["reply_parameters"] = ReplyParameters(
                    reply_to, allow_sending_without_reply=True
                )
            last = number == len(chunks) - 1
            outcome = await self._send_chunk(
                chat_id, chunk, markup if last else None, options, partly_sent=number > 0
            )
            if outcome.status is not DeliveryStatus.DELIVERED:
                if number:
                    logger.warning(
                        "chat %s got %d of %d parts of a reply before: %s",
                        chat_id,
                        number,
                        len(chunks),
                        outcome.reason,
                    )
                return outcome
            if delivered is not None:
                await delivered(number + 1, len(chunks))
        return DeliveryOutcome.delivered()

    async def edit(self, chat_id: str, message_id: int, reply: Reply) -> bool:
        """Replace a message's text and buttons (paging); False if it must be sent anew."""
        chunks = render_html(reply)
        if len(chunks) != 1:
            return False
        try:
            await self.bot.edit_message_text(
                chunks[0],
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(reply, self.callbacks),
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as err:
            if _NOT_MODIFIED in err.message.lower():
                return True
            logger.info("could not edit message %s in chat %s: %s", message_id, chat_id, err)
            return False
        except TelegramError as err:
            logger.info("could not edit message %s in chat %s: %s", message_id, chat_id, err)
            return False
        return True

    async def _send_chunk(
        self,
        chat_id: str,
        chunk: str,
        markup: InlineKeyboardMarkup | None,
        options: dict[str, Any],
        partly_sent: bool,
    ) -> DeliveryOutcome:
        text = chunk
        parse_mode: ParseMode | None = ParseMode.HTML
        failures = 0
        waited = False
        while True:
            try:
                await self.bot.send_message(
                    chat_id,
                    text,
                    parse_mode=parse_mode,
                    reply_markup=markup,
                    link_preview_options=NO_PREVIEW,
                    **options,
                )
                return DeliveryOutcome.delivered()
            except Forbidden as err:
                return _outcome(DeliveryStatus.GONE, self._reason(err))
            except ChatMigrated as err:
                return _outcome(
                    DeliveryStatus.MOVED, self._reason(err), new_chat_id=str(err.new_chat_id)
                )
            except RetryAfter as err:
                wait = retry_seconds(err)
                # Waiting here only to finish a reply already partly sent; otherwise the
                # scheduler waits, and other chats are not held up meanwhile.
                if not partly_sent or waited or wait > self.max_wait:
                    return _outcome(DeliveryStatus.RETRY, self._reason(err), retry_after=wait)
                waited = True
                await self.sleep(wait)
            except BadRequest as err:
                if parse_mode is not None and _PARSE_ERROR in err.message.lower():
                    logger.warning(
                        "Telegram could not parse a reply's HTML for chat %s (%s); "
                        "sending it once more as plain text",
                        chat_id,
                        self._reason(err),
                    )
                    text, parse_mode = html_to_plain(chunk), None
                    continue
                return self._bad_request(err)
            except NetworkError as err:  # TimedOut is a NetworkError
                failures += 1
                delay = self.backoff * 2 ** (failures - 1)
                if failures >= self.attempts:
                    # No retry_after: that would read as a rate limit and hold every send to
                    # Telegram; the scheduler backs off this chat alone and bounds attempts.
                    return _outcome(
                        DeliveryStatus.RETRY,
                        f"network error, {failures} attempts: {self._reason(err)}",
                    )
                logger.info(
                    "sending to chat %s failed (%s); trying again in %.1f s",
                    chat_id,
                    self._reason(err),
                    delay,
                )
                await self.sleep(delay)
            except TelegramError as err:
                return _outcome(DeliveryStatus.FAILED, self._reason(err))

    def _bad_request(self, err: BadRequest) -> DeliveryOutcome:
        reason = self._reason(err)
        if any(marker in err.message.lower() for marker in _CHAT_GONE):
            return _outcome(DeliveryStatus.GONE, reason)
        return _outcome(DeliveryStatus.FAILED, reason)

    def _reason(self, err: TelegramError) -> str:
        return self.redact(f"{type(err).__name__}: {err.message}")
