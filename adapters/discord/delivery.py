"""Digests to Discord channels, and what became of each send (for the scheduler)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp

from adapters.discord.answers import Answers
from adapters.discord.chats import PLATFORM
from adapters.discord.lib import discord
from adapters.discord.render import render_reply
from bot.messages import DeliveryOutcome, DeliveryStatus, Reply

logger = logging.getLogger(__name__)

# Errors after which a channel will never accept our messages again.
GONE_CODES = {
    50001: "missing access",
    50013: "missing permissions",
    50007: "cannot send messages to this user",
    10003: "unknown channel",
}


def delivery_outcome(err: Exception) -> DeliveryOutcome:
    """How a failed send went, for the scheduler."""
    if isinstance(err, discord.RateLimited):
        return DeliveryOutcome(DeliveryStatus.RETRY, "rate limited", retry_after=err.retry_after)
    if isinstance(err, discord.HTTPException):
        reason = f"HTTP {err.status}" + (f" (code {err.code})" if err.code else "")
        reason += f": {err.text}" if err.text else ""
        if err.status in (403, 404) and err.code in GONE_CODES:
            return DeliveryOutcome(DeliveryStatus.GONE, f"{GONE_CODES[err.code]} ({err.code})")
        if err.status == 429:
            return DeliveryOutcome(DeliveryStatus.RETRY, reason, retry_after=_retry_after(err))
        if err.status >= 500:
            return DeliveryOutcome(DeliveryStatus.RETRY, reason)
        # Any other 4xx: the same request would fail the same way.
        return DeliveryOutcome(DeliveryStatus.FAILED, reason)
    return DeliveryOutcome(DeliveryStatus.RETRY, f"network error: {err!r}")


def _retry_after(err: discord.HTTPException) -> float | None:
    headers = getattr(err.response, "headers", None) or {}
    try:
        return float(headers.get("Retry-After", ""))
    except ValueError:
        return None


_NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


class DiscordSender:
    """Sends the scheduler's replies to channels; one request tells a dead channel."""

    platform = PLATFORM

    def __init__(self, client: discord.Client, answers: Answers) -> None:
        self.client = client
        self.answers = answers

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        return await self.send_parts(chat_id, reply, 0, None)

    async def send_parts(
        self,
        chat_id: str,
        reply: Reply,
        skip: int,
        delivered: Callable[[int, int], Awaitable[None]] | None,
    ) -> DeliveryOutcome:
        """The reply's messages from number ``skip`` on, reporting each one sent, so that a
        retry after a failure part way sends only the rest (the scheduler records them)."""
        if not chat_id.isdigit():
            return DeliveryOutcome(DeliveryStatus.FAILED, f"not a Discord channel id: {chat_id!r}")
        channel = self.client.get_partial_messageable(int(chat_id))
        try:
            await self.answers.send_to_channel(channel, render_reply(reply), skip, delivered)
        except (discord.HTTPException, discord.RateLimited, *_NETWORK_ERRORS) as err:
            outcome = delivery_outcome(err)
            logger.info("Discord channel %s: %s (%s)", chat_id, outcome.status, outcome.reason)
            return outcome
        return DeliveryOutcome.delivered()
