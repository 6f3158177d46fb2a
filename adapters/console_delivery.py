"""Delivers console chats' digests to a text stream (``inquiry-bot digests`` prints them)."""

from __future__ import annotations

import logging
from typing import TextIO

from bot.messages import DeliveryOutcome, DeliveryStatus, Reply

log = logging.getLogger(__name__)

HEADER = "=== Digest for console chat {chat_id} ==="


class ConsoleSender:
    """A :class:`bot.ports.Sender` for the "console" platform.

    Each digest is written whole and flushed before the send counts as delivered, so what
    reached the stream is exactly what was delivered. With ``out=None`` nothing is written
    (``digests --json`` puts the digest's text in its JSON line instead).
    """

    platform = "console"

    def __init__(self, out: TextIO | None) -> None:
        self.out = out

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        if self.out is None:
            return DeliveryOutcome.delivered()
        try:
            self.out.write(f"{HEADER.format(chat_id=chat_id)}\n{reply.plain}\n\n")
            self.out.flush()
        except OSError as err:  # a closed pipe: the reader may come back on the next run
            log.warning("could not write console chat %s's digest: %s", chat_id, err)
            return DeliveryOutcome(DeliveryStatus.RETRY, reason=f"output unavailable: {err}")
        return DeliveryOutcome.delivered()
