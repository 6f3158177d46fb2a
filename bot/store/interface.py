"""The core's storage interface: the records a store keeps and the Store Protocol.

The core talks to a :class:`Store`; adapters/storage/sqlite/ and adapters/storage/postgres/
keep the same promises in a database, and :class:`bot.store.memory.InMemoryStore` keeps them in
dictionaries for fast tests. One contract test suite (tests/test_store_contract.py) runs
against all of them, so they cannot drift.

Chats are keyed by :attr:`bot.messages.ChatRef.key` ("platform:id"). Every time is an aware
datetime; stores hand back UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.digests.schedule import Schedule
from bot.messages import ChatKind, ChatRef, Reply


@dataclass(frozen=True)
class ChatSettings:
    key: str
    platform: str
    chat_id: str
    kind: ChatKind
    timezone: str  # an IANA name
    created_at: datetime
    title: str | None = None
    active: bool = True  # False once the platform said the bot can't reach it
    inactive_reason: str = ""
    inquiry: str = ""  # the inquiry the chat follows ("": the deployment's default)

    @property
    def ref(self) -> ChatRef:
        return ChatRef(self.platform, self.chat_id, self.kind, self.title)


@dataclass(frozen=True)
class Subscription:
    """One chat's digest: when, and where it has got to in the review."""

    id: int
    chat_key: str
    platform: str
    chat_id: str
    timezone: str  # the chat's zone, read with the subscription
    schedule: Schedule
    since: datetime  # subscribed or resumed then: scheduled times before it are not owed
    created_at: datetime
    paused: bool = False
    finding_cursor: int = 0  # index of the finding the next digest shows
    recommendation_cursor: int = 0
    last_digest_at: datetime | None = None  # when the last digest was planned
    active: bool = True  # the chat is reachable
    inquiry: str = ""  # a chat has one subscription per inquiry


@dataclass(frozen=True)
class Alert:
    id: int
    chat_key: str
    words: str  # exactly as the user typed them (whitespace folded)
    created_at: datetime


@dataclass(frozen=True)
class TemplateVersion:
    chat_key: str
    name: str
    version: int  # 1-based; every save makes a new one
    source: str
    author: str
    created_at: datetime


@dataclass(frozen=True)
class DocumentRecord:
    """A document added after start-up (``inquiry-bot ingest``), with the text it came as."""

    id: str
    title: str
    added_at: datetime
    text_hash: str  # of the cleaned text: the same text twice is refused
    text: str  # cleaned, as readers are quoted it (cleaning it again changes nothing)
    outlet: str | None = None
    date: str | None = None
    url: str | None = None
    kind: str = "news"
    inquiry: str = ""  # the inquiry it was added to


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"  # planned, not yet handed to a sender
    SENDING = "sending"  # handed over; if the process dies now, it may or may not have gone
    DELIVERED = "delivered"
    RETRY = "retry"  # try again at next_attempt_at
    GONE = "gone"  # the chat is unreachable for good
    FAILED = "failed"  # gave up; reason says why

    @property
    def finished(self) -> bool:
        return self in (OutboxStatus.DELIVERED, OutboxStatus.GONE, OutboxStatus.FAILED)


UNFINISHED = (OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.RETRY)
# A finished entry keeps its key and outcome, not its text: the outbox stays small.
EMPTY_REPLY = Reply(lines=())


@dataclass(frozen=True)
class PlannedDigest:
    """A digest to write to the outbox, and where the subscription's cursors go next."""

    subscription_id: int
    scheduled: datetime
    chat_key: str
    platform: str
    chat_id: str
    reply: Reply
    finding_cursor: int
    recommendation_cursor: int
    planned_at: datetime


@dataclass(frozen=True)
class OutboxEntry:
    """One digest owed to one chat for one scheduled time: the delivery record."""

    id: int
    subscription_id: int
    scheduled: datetime
    chat_key: str
    platform: str
    chat_id: str
    reply: Reply
    status: OutboxStatus
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    reason: str = ""
    owner: str = ""  # the process that holds it while sending
    lease_expires: datetime | None = None  # another process may take it over after this
    parts_sent: int = 0  # messages of a split digest already delivered
    resumed: bool = False  # claimed from a holder whose lease ran out (it may have gone)

    @property
    def key(self) -> tuple[int, datetime]:
        return (self.subscription_id, self.scheduled)


@dataclass(frozen=True)
class Settlement:
    """How one send went, recorded with others of its page in one write."""

    entry_id: int
    status: OutboxStatus
    reason: str = ""
    next_attempt_at: datetime | None = None
    chat_id: str | None = None  # where it went, if the chat moved


class Store(Protocol):
    """Everything the core stores. Methods are coroutines; writes are atomic each."""

    async def close(self) -> None: ...

    # -- chats
    async def get_chat(self, chat_key: str) -> ChatSettings | None: ...

    async def ensure_chat(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        """The chat's settings, creating them (in ``timezone``) if it is new."""
        ...

    async def set_timezone(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings: ...

    async def deactivate_chat(self, chat_key: str, reason: str) -> None:
        """The platform says the chat is gone: stop planning digests for it."""
        ...

    async def move_chat(self, old_key: str, new: ChatRef) -> bool:
        """Everything stored for ``old_key`` now belongs to ``new`` (which loses its own)."""
        ...

    async def forget_chat(self, chat_key: str) -> bool:
        """Delete everything stored for the chat. False if there was nothing."""
        ...

    async def set_chat_inquiry(
        self, chat: ChatRef, inquiry: str, timezone: str, at: datetime
    ) -> ChatSettings:
        """The chat now follows ``inquiry`` (creating its settings, in ``timezone``, if new)."""
        ...

    async def adopt_unassigned(self, inquiry: str) -> int:
        """Chats, subscriptions and added documents stored before there were several
        inquiries (inquiry "") now belong to ``inquiry``; returns how many rows changed."""
        ...

    # -- subscriptions: one per chat and inquiry
    async def subscribe(
        self, chat: ChatRef, schedule: Schedule, timezone: str, at: datetime, inquiry: str = ""
    ) -> Subscription:
        """Start (or change) the chat's digest of ``inquiry``; it is unpaused and owed from
        ``at`` on."""
        ...

    async def get_subscription(self, chat_key: str, inquiry: str = "") -> Subscription | None: ...

    async def list_subscriptions(self, chat_key: str) -> list[Subscription]:
        """The chat's subscriptions, oldest first."""
        ...

    async def set_paused(
        self, chat_key: str, paused: bool, at: datetime, inquiry: str = ""
    ) -> Subscription | None:
        """Resuming owes digests from ``at`` on, not the ones missed while paused."""
        ...

    async def unsubscribe(self, chat_key: str, inquiry: str = "") -> bool: ...

    async def active_subscriptions(
        self, platforms: Collection[str] | None = None
    ) -> list[Subscription]:
        """Unpaused subscriptions of reachable chats, by id."""
        ...

    # -- alerts
    async def add_alert(self, chat: ChatRef, words: str, timezone: str, at: datetime) -> Alert: ...

    async def list_alerts(self, chat_key: str) -> list[Alert]:
        """Oldest first; /alert list numbers them from 1 in this order."""
        ...

    async def remove_alert(self, chat_key: str, alert_id: int) -> bool: ...

    async def alerts_for_chats(self, chat_keys: Collection[str]) -> dict[str, list[Alert]]: ...

    # -- moderators' templates (issue 4)
    async def save_template(
        self, chat_key: str, name: str, source: str, author: str, at: datetime
    ) -> int:
        """Keep a new version of the chat's template ``name``; returns it (1-based)."""
        ...

    async def get_template(
        self, chat_key: str, name: str, version: int | None = None
    ) -> TemplateVersion | None:
        """That version, or the latest if ``version`` is None."""
        ...

    async def list_templates(self, chat_key: str) -> list[TemplateVersion]:
        """The latest version of each template, by name."""
        ...

    async def template_history(self, chat_key: str, name: str) -> list[TemplateVersion]:
        """Every version, oldest first."""
        ...

    async def remove_template(self, chat_key: str, name: str) -> bool: ...

    async def set_digest_template(self, chat_key: str, name: str | None) -> None: ...

    async def get_digest_template(self, chat_key: str) -> str | None: ...

    async def digest_templates(self, chat_keys: Collection[str]) -> dict[str, TemplateVersion]:
        """For each chat that chose a digest template, its latest version."""
        ...

    # -- documents added after start-up
    async def add_document(self, record: DocumentRecord) -> bool:
        """False (and nothing stored) if its id or its text hash is already stored."""
        ...

    async def find_document_by_hash(self, text_hash: str) -> DocumentRecord | None: ...

    async def list_documents(self) -> list[DocumentRecord]:
        """Oldest first."""
        ...

    async def documents_added_between(
        self, after: datetime | None, until: datetime
    ) -> list[DocumentRecord]:
        """Added after ``after`` (all if None) and at or before ``until``, oldest first."""
        ...

    # -- the digest outbox
    async def plan_digests(self, planned: Sequence[PlannedDigest]) -> int:
        """Write each to the outbox as queued and move its subscription's cursors, atomically.

        A digest already in the outbox for its (subscription, scheduled time) is left alone
        and its cursors are not moved. Returns how many were written.
        """
        ...

    async def outbox_keys_since(self, since: datetime) -> set[tuple[int, datetime]]:
        """(subscription id, scheduled time) of every entry scheduled at or after ``since``."""
        ...

    async def claim_outbox(
        self,
        now: datetime,
        owner: str,
        lease_until: datetime,
        platforms: Collection[str] | None = None,
        limit: int = 500,
    ) -> list[OutboxEntry]:
        """Take up to ``limit`` entries ready at ``now``, by id, for ``owner`` to send.

        Ready: queued; retry whose time has come; sending whose lease ran out (its holder
        died or stalled: it comes back with ``resumed``). Each becomes sending, held by
        ``owner`` until ``lease_until``, with one more attempt counted. Processes claiming at
        once get different entries, never the same one.
        """
        ...

    async def renew_leases(
        self, entry_ids: Collection[int], owner: str, lease_until: datetime
    ) -> int:
        """Extend ``owner``'s leases on these entries; returns how many it still held."""
        ...

    async def record_parts(self, entry_id: int, owner: str, parts_sent: int, at: datetime) -> bool:
        """A split digest's first ``parts_sent`` messages are delivered: a retry skips them.
        False if ``owner`` no longer holds the entry."""
        ...

    async def settle_outbox(
        self, owner: str, settlements: Sequence[Settlement], at: datetime
    ) -> int:
        """Record how each send went, all in one write, for entries ``owner`` still holds
        (one taken over by another process after its lease ran out is left to that one).
        A finished entry (delivered, gone, failed) drops its text. Returns how many."""
        ...

    async def count_unfinished(self) -> int:
        """Entries not yet delivered, gone or failed: the queue's depth."""
        ...

    # -- named locks between processes (one Telegram long-poller per bot)
    async def take_lock(self, name: str, owner: str, now: datetime, until: datetime) -> str:
        """Hold ``name`` until ``until`` if it is free, expired or already ``owner``'s.

        Returns the holder afterwards: ``owner`` if taken (or renewed), else whoever holds it.
        """
        ...

    async def release_lock(self, name: str, owner: str) -> None: ...

    async def expire_outbox(self, scheduled_before: datetime, at: datetime, reason: str) -> int:
        """Unfinished entries scheduled before the cut-off become failed; returns how many."""
        ...

    async def prune_outbox(self, scheduled_before: datetime) -> int:
        """Delete finished entries scheduled before the cut-off; returns how many."""
        ...

    async def list_outbox(self, chat_key: str | None = None) -> list[OutboxEntry]:
        """Every entry (of one chat), by id: for inspection and tests."""
        ...
