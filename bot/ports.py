"""What the core needs from outside, as Protocols. Adapters and tests supply them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from bot.messages import ChatRef, DeliveryOutcome, Reply, SenderRef


class Sender(Protocol):
    """Delivers a reply to a chat on one platform and says how it went."""

    platform: str

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class ModeratorCheck(Protocol):
    """May this sender change this chat's settings? (Admins; the user in a private chat.)"""

    async def is_moderator(self, chat: ChatRef, sender: SenderRef) -> bool: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class EveryoneModerates:
    """For chats with one person in them (the console): the user runs their own chat."""

    async def is_moderator(self, chat: ChatRef, sender: SenderRef) -> bool:
        return True
