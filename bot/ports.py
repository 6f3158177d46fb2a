"""What the core needs from outside, as Protocols. Adapters and tests supply them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from bot.errors import MODERATORS
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


class PlatformModerators:
    """Asks the moderator check of the chat's own platform; unknown platforms say no."""

    def __init__(self, checks: dict[str, ModeratorCheck] | None = None) -> None:
        self.checks: dict[str, ModeratorCheck] = dict(checks or {})

    def register(self, platform: str, check: ModeratorCheck) -> None:
        self.checks[platform] = check

    async def is_moderator(self, chat: ChatRef, sender: SenderRef) -> bool:
        check = self.checks.get(chat.platform)
        return bool(check and await check.is_moderator(chat, sender))

    def who(self, chat: ChatRef) -> str:
        """Who moderates the chat, in its platform's words: a check may say, as ``who``."""
        who = getattr(self.checks.get(chat.platform), "who", None)
        return who if isinstance(who, str) else MODERATORS
