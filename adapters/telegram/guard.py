"""Who may change a Telegram chat's settings, and how fast a chat may talk to the bot."""

from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot.messages import ChatKind, ChatRef, SenderRef

logger = logging.getLogger(__name__)

PLATFORM = "telegram"
MODERATOR_STATUSES = frozenset({ChatMemberStatus.OWNER.value, ChatMemberStatus.ADMINISTRATOR.value})

# Asks Telegram for a member's status in a chat ("creator", "administrator", "member", ...).
MemberStatus = Callable[[str, str], Awaitable[str]]


class TelegramModerators:
    """A group's creator and administrators moderate it; in a private chat, the user does.

    Answers from getChatMember are cached for ``ttl`` seconds: a moderator command costs one
    API call a minute at most, and a demoted admin loses the right within a minute.
    """

    def __init__(
        self,
        member_status: MemberStatus,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = 60.0,
        max_entries: int = 10_000,
    ) -> None:
        self.member_status = member_status
        self.clock = clock
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], tuple[float, bool]] = OrderedDict()

    async def is_moderator(self, chat: ChatRef, sender: SenderRef) -> bool:
        if chat.platform != PLATFORM:
            return False
        if sender.anonymous_admin:
            # Only admins can post as the group itself; the adapter sets this from sender_chat.
            return True
        if chat.kind == ChatKind.PRIVATE:
            return sender.id == chat.id
        if chat.kind == ChatKind.CHANNEL:
            return False
        return await self._is_admin(chat.id, sender.id)

    async def _is_admin(self, chat_id: str, user_id: str) -> bool:
        key = (chat_id, user_id)
        cached = self._cache.get(key)
        now = self.clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            status = await self.member_status(chat_id, user_id)
        except TelegramError as err:
            # Not cached: a network hiccup should not lock an admin out for a minute.
            logger.warning(
                "could not check whether %s moderates chat %s: %s", user_id, chat_id, err
            )
            return False
        verdict = status in MODERATOR_STATUSES
        self._cache[key] = (now + self.ttl, verdict)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return verdict

    def forget_chat(self, chat_id: str) -> None:
        for key in [k for k in self._cache if k[0] == chat_id]:
            del self._cache[key]


class Verdict(enum.Enum):
    ALLOW = "allow"
    NOTICE = "notice"  # the first message over the limit: tell the chat once
    DROP = "drop"  # silently ignored until the chat calms down


class _Bucket:
    __slots__ = ("tokens", "stamp", "muted")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.muted = False


class FloodGate:
    """A token bucket per chat for incoming messages.

    Each chat may send ``burst`` messages at once and ``per_second`` a second after that. The
    first message over the limit gets one notice; the chat is then ignored until its bucket
    has refilled completely. Messages sent while ignored still drain the bucket (down to a
    debt of one burst), so a chat that keeps flooding stays ignored however long it goes on.
    Other chats have their own buckets and are never slowed.
    """

    def __init__(
        self,
        burst: float = 10.0,
        per_second: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 100_000,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.max_chats = max_chats
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def check(self, chat_key: str) -> Verdict:
        now = self.clock()
        bucket = self._bucket(chat_key, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.per_second)
        bucket.stamp = now
        if bucket.muted and bucket.tokens >= self.burst:
            bucket.muted = False
            logger.info("chat %s has calmed down; answering it again", chat_key)
        if bucket.muted:
            bucket.tokens = max(-self.burst, bucket.tokens - 1)
            return Verdict.DROP
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.ALLOW
        bucket.muted = True
        bucket.tokens -= 1
        logger.info("chat %s is sending too fast; ignoring it until it calms down", chat_key)
        return Verdict.NOTICE

    def _bucket(self, chat_key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(chat_key)
        if bucket is None:
            bucket = self._buckets[chat_key] = _Bucket(self.burst, now)
            # The least recently heard-from chats go first; they are the calm ones.
            while len(self._buckets) > self.max_chats:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(chat_key)
        return bucket
