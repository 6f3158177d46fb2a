"""What the bot remembers about chats: the core's storage interface and an in-memory store.

The core talks to a :class:`Store`; adapters/storage/sqlite.py keeps the same promises in a
SQLite file, and :class:`InMemoryStore` keeps them in dictionaries for fast tests. One
contract test suite (tests/test_store_contract.py) runs against both, so they cannot drift.

Chats are keyed by :attr:`bot.messages.ChatRef.key` ("platform:id"). Every time is an aware
datetime; stores hand back UTC.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.digests.schedule import Schedule
from bot.messages import Button, ChatKind, ChatRef, Citation, Item, Reply, Result, Span


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


# -- helpers both stores use -----------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: stores need aware times")
    return moment.astimezone(UTC)


def text_hash(text: str) -> str:
    """Identifies a document's text, ignoring case and how its white space runs."""
    folded = re.sub(r"\s+", " ", text).strip().lower()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def reply_to_json(reply: Reply) -> str:
    """A compact, lossless JSON form of a reply (defaults left out) for the outbox."""
    data: dict[str, Any] = {"lines": [[_span_to_list(s) for s in line] for line in reply.lines]}
    if reply.citations:
        data["citations"] = [_without_none(vars(c)) for c in reply.citations]
    if reply.buttons:
        data["buttons"] = [[[b.label, b.payload] for b in row] for row in reply.buttons]
    if reply.items:
        data["items"] = [vars(i) for i in reply.items]
    if reply.results:
        data["results"] = [{**vars(r), "also_in": list(r.also_in)} for r in reply.results]
    if (reply.page, reply.pages) != (1, 1):
        data["page"], data["pages"] = reply.page, reply.pages
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def reply_from_json(text: str) -> Reply:
    data = json.loads(text)
    return Reply(
        lines=tuple(tuple(_span_from_list(s) for s in line) for line in data["lines"]),
        citations=tuple(Citation(**c) for c in data.get("citations", ())),
        buttons=tuple(tuple(Button(b[0], b[1]) for b in row) for row in data.get("buttons", ())),
        items=tuple(Item(**i) for i in data.get("items", ())),
        results=tuple(
            Result(**{**r, "also_in": tuple(r["also_in"])}) for r in data.get("results", ())
        ),
        page=data.get("page", 1),
        pages=data.get("pages", 1),
    )


def _span_to_list(span: Span) -> list[Any]:
    """[text, flags, link]: flags is a string of b/i/c; trailing defaults dropped."""
    flags = ("b" if span.bold else "") + ("i" if span.italic else "") + ("c" if span.code else "")
    if span.link is not None:
        return [span.text, flags, span.link]
    return [span.text, flags] if flags else [span.text]


def _span_from_list(raw: list[Any]) -> Span:
    flags = raw[1] if len(raw) > 1 else ""
    link = raw[2] if len(raw) > 2 else None
    return Span(raw[0], bold="b" in flags, italic="i" in flags, code="c" in flags, link=link)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# -- the in-memory store ---------------------------------------------------------------------


@dataclass
class _Memory:
    chats: dict[str, ChatSettings] = field(default_factory=dict)
    # by (chat key, inquiry)
    subscriptions: dict[tuple[str, str], Subscription] = field(default_factory=dict)
    alerts: dict[int, Alert] = field(default_factory=dict)
    templates: dict[tuple[str, str], list[TemplateVersion]] = field(default_factory=dict)
    digest_template: dict[str, str] = field(default_factory=dict)
    documents: dict[str, DocumentRecord] = field(default_factory=dict)
    outbox: dict[int, OutboxEntry] = field(default_factory=dict)
    outbox_keys: dict[tuple[int, datetime], int] = field(default_factory=dict)
    locks: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # owner, expiry
    next_id: int = 1


class InMemoryStore:
    """A :class:`Store` in dictionaries: fast, for tests and for a bot run without a database.

    Each method does its work without awaiting in between, so on one event loop every
    method is atomic, as the SQLite store's transactions are.
    """

    def __init__(self) -> None:
        self._m = _Memory()

    def _new_id(self) -> int:
        self._m.next_id += 1
        return self._m.next_id - 1

    async def close(self) -> None:
        return None

    # -- chats
    async def get_chat(self, chat_key: str) -> ChatSettings | None:
        return self._m.chats.get(chat_key)

    async def ensure_chat(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        return self._ensure_chat(chat, timezone, at)

    def _ensure_chat(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        found = self._m.chats.get(chat.key)
        if found is None:
            found = ChatSettings(
                chat.key, chat.platform, chat.id, chat.kind, timezone, utc(at), chat.title
            )
            self._m.chats[chat.key] = found
        return found

    async def set_timezone(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        settings = replace(self._ensure_chat(chat, timezone, at), timezone=timezone)
        self._m.chats[chat.key] = settings
        for key, sub in self._subscriptions_of(chat.key):
            self._m.subscriptions[key] = replace(sub, timezone=timezone)
        return settings

    def _subscriptions_of(self, chat_key: str) -> list[tuple[tuple[str, str], Subscription]]:
        return sorted(
            ((k, s) for k, s in self._m.subscriptions.items() if k[0] == chat_key),
            key=lambda pair: pair[1].id,
        )

    async def deactivate_chat(self, chat_key: str, reason: str) -> None:
        settings = self._m.chats.get(chat_key)
        if settings is not None:
            self._m.chats[chat_key] = replace(settings, active=False, inactive_reason=reason)
        for key, sub in self._subscriptions_of(chat_key):
            self._m.subscriptions[key] = replace(sub, active=False)

    async def move_chat(self, old_key: str, new: ChatRef) -> bool:
        settings = self._m.chats.get(old_key)
        if settings is None:
            return False
        if new.key != old_key:
            self._forget(new.key)
        m = self._m
        del m.chats[old_key]
        m.chats[new.key] = replace(
            settings,
            key=new.key,
            platform=new.platform,
            chat_id=new.id,
            kind=new.kind,
            title=new.title or settings.title,
        )
        for key, sub in self._subscriptions_of(old_key):
            del m.subscriptions[key]
            m.subscriptions[(new.key, key[1])] = replace(
                sub, chat_key=new.key, platform=new.platform, chat_id=new.id
            )
        for alert_id, alert in list(m.alerts.items()):
            if alert.chat_key == old_key:
                m.alerts[alert_id] = replace(alert, chat_key=new.key)
        for (chat_key, name), versions in list(m.templates.items()):
            if chat_key == old_key:
                del m.templates[(chat_key, name)]
                m.templates[(new.key, name)] = [replace(v, chat_key=new.key) for v in versions]
        if old_key in m.digest_template:
            m.digest_template[new.key] = m.digest_template.pop(old_key)
        for entry_id, entry in list(m.outbox.items()):
            if entry.chat_key == old_key:
                moved = replace(entry, chat_key=new.key, platform=new.platform)
                if not entry.status.finished:
                    moved = replace(moved, chat_id=new.id)
                m.outbox[entry_id] = moved
        return True

    async def forget_chat(self, chat_key: str) -> bool:
        return self._forget(chat_key)

    def _forget(self, chat_key: str) -> bool:
        m = self._m
        found = m.chats.pop(chat_key, None) is not None
        subs = self._subscriptions_of(chat_key)
        for key, _ in subs:
            del m.subscriptions[key]
        gone = {sub.id for _, sub in subs}
        self._drop_outbox(lambda e: e.subscription_id in gone or e.chat_key == chat_key)
        m.alerts = {i: a for i, a in m.alerts.items() if a.chat_key != chat_key}
        templates = {k: v for k, v in m.templates.items() if k[0] != chat_key}
        found = found or len(templates) < len(m.templates)
        m.templates = templates
        found = m.digest_template.pop(chat_key, None) is not None or found
        return found or bool(subs)

    async def set_chat_inquiry(
        self, chat: ChatRef, inquiry: str, timezone: str, at: datetime
    ) -> ChatSettings:
        settings = replace(self._ensure_chat(chat, timezone, at), inquiry=inquiry)
        self._m.chats[chat.key] = settings
        return settings

    async def adopt_unassigned(self, inquiry: str) -> int:
        m = self._m
        changed = 0
        for key, settings in list(m.chats.items()):
            if not settings.inquiry:
                m.chats[key] = replace(settings, inquiry=inquiry)
                changed += 1
        for (chat_key, named), sub in list(m.subscriptions.items()):
            if not named:
                del m.subscriptions[(chat_key, named)]
                if (chat_key, inquiry) not in m.subscriptions:
                    m.subscriptions[(chat_key, inquiry)] = replace(sub, inquiry=inquiry)
                changed += 1
        for doc_id, record in list(m.documents.items()):
            if not record.inquiry:
                m.documents[doc_id] = replace(record, inquiry=inquiry)
                changed += 1
        return changed

    def _drop_outbox(self, doomed: Callable[[OutboxEntry], bool]) -> None:
        m = self._m
        for entry_id, entry in list(m.outbox.items()):
            if doomed(entry):
                del m.outbox[entry_id]
                m.outbox_keys.pop(entry.key, None)

    # -- subscriptions
    async def subscribe(
        self, chat: ChatRef, schedule: Schedule, timezone: str, at: datetime, inquiry: str = ""
    ) -> Subscription:
        settings = self._ensure_chat(chat, timezone, at)
        if not settings.active:  # a message from the chat shows it is reachable again
            settings = replace(settings, active=True, inactive_reason="")
            self._m.chats[chat.key] = settings
        old = self._m.subscriptions.get((chat.key, inquiry))
        if old is None:
            sub = Subscription(
                id=self._new_id(),
                chat_key=chat.key,
                platform=settings.platform,
                chat_id=settings.chat_id,
                timezone=settings.timezone,
                schedule=schedule,
                since=utc(at),
                created_at=utc(at),
                inquiry=inquiry,
            )
        else:
            sub = replace(old, schedule=schedule, paused=False, since=utc(at), active=True)
        self._m.subscriptions[(chat.key, inquiry)] = sub
        return sub

    async def get_subscription(self, chat_key: str, inquiry: str = "") -> Subscription | None:
        return self._m.subscriptions.get((chat_key, inquiry))

    async def list_subscriptions(self, chat_key: str) -> list[Subscription]:
        return [sub for _, sub in self._subscriptions_of(chat_key)]

    async def set_paused(
        self, chat_key: str, paused: bool, at: datetime, inquiry: str = ""
    ) -> Subscription | None:
        sub = self._m.subscriptions.get((chat_key, inquiry))
        if sub is None:
            return None
        changed = replace(sub, paused=paused)
        if sub.paused and not paused:
            changed = replace(changed, since=utc(at))
        self._m.subscriptions[(chat_key, inquiry)] = changed
        return changed

    async def unsubscribe(self, chat_key: str, inquiry: str = "") -> bool:
        sub = self._m.subscriptions.pop((chat_key, inquiry), None)
        if sub is None:
            return False
        self._drop_outbox(lambda e: e.subscription_id == sub.id)
        return True

    async def active_subscriptions(
        self, platforms: Collection[str] | None = None
    ) -> list[Subscription]:
        subs = [
            s
            for s in self._m.subscriptions.values()
            if s.active and not s.paused and (platforms is None or s.platform in platforms)
        ]
        return sorted(subs, key=lambda s: s.id)

    # -- alerts
    async def add_alert(self, chat: ChatRef, words: str, timezone: str, at: datetime) -> Alert:
        self._ensure_chat(chat, timezone, at)
        alert = Alert(self._new_id(), chat.key, words, utc(at))
        self._m.alerts[alert.id] = alert
        return alert

    async def list_alerts(self, chat_key: str) -> list[Alert]:
        return sorted((a for a in self._m.alerts.values() if a.chat_key == chat_key), key=_by_id)

    async def remove_alert(self, chat_key: str, alert_id: int) -> bool:
        alert = self._m.alerts.get(alert_id)
        if alert is None or alert.chat_key != chat_key:
            return False
        del self._m.alerts[alert_id]
        return True

    async def alerts_for_chats(self, chat_keys: Collection[str]) -> dict[str, list[Alert]]:
        wanted = set(chat_keys)
        found: dict[str, list[Alert]] = {}
        for alert in sorted(self._m.alerts.values(), key=_by_id):
            if alert.chat_key in wanted:
                found.setdefault(alert.chat_key, []).append(alert)
        return found

    # -- templates
    async def save_template(
        self, chat_key: str, name: str, source: str, author: str, at: datetime
    ) -> int:
        versions = self._m.templates.setdefault((chat_key, name), [])
        version = len(versions) + 1 if not versions else versions[-1].version + 1
        versions.append(TemplateVersion(chat_key, name, version, source, author, utc(at)))
        return version

    async def get_template(
        self, chat_key: str, name: str, version: int | None = None
    ) -> TemplateVersion | None:
        versions = self._m.templates.get((chat_key, name), [])
        if version is None:
            return versions[-1] if versions else None
        return next((v for v in versions if v.version == version), None)

    async def list_templates(self, chat_key: str) -> list[TemplateVersion]:
        latest = [v[-1] for (key, _), v in self._m.templates.items() if key == chat_key and v]
        return sorted(latest, key=lambda t: t.name)

    async def template_history(self, chat_key: str, name: str) -> list[TemplateVersion]:
        return list(self._m.templates.get((chat_key, name), []))

    async def remove_template(self, chat_key: str, name: str) -> bool:
        if self._m.digest_template.get(chat_key) == name:
            del self._m.digest_template[chat_key]
        return self._m.templates.pop((chat_key, name), None) is not None

    async def set_digest_template(self, chat_key: str, name: str | None) -> None:
        if name is None:
            self._m.digest_template.pop(chat_key, None)
        else:
            self._m.digest_template[chat_key] = name

    async def get_digest_template(self, chat_key: str) -> str | None:
        return self._m.digest_template.get(chat_key)

    async def digest_templates(self, chat_keys: Collection[str]) -> dict[str, TemplateVersion]:
        found: dict[str, TemplateVersion] = {}
        for chat_key in chat_keys:
            name = self._m.digest_template.get(chat_key)
            versions = self._m.templates.get((chat_key, name), []) if name else []
            if versions:
                found[chat_key] = versions[-1]
        return found

    # -- documents
    async def add_document(self, record: DocumentRecord) -> bool:
        docs = self._m.documents
        if record.id in docs or any(d.text_hash == record.text_hash for d in docs.values()):
            return False
        docs[record.id] = replace(record, added_at=utc(record.added_at))
        return True

    async def find_document_by_hash(self, text_hash: str) -> DocumentRecord | None:
        return next((d for d in self._m.documents.values() if d.text_hash == text_hash), None)

    async def list_documents(self) -> list[DocumentRecord]:
        return sorted(self._m.documents.values(), key=lambda d: (d.added_at, d.id))

    async def documents_added_between(
        self, after: datetime | None, until: datetime
    ) -> list[DocumentRecord]:
        return [
            d
            for d in await self.list_documents()
            if (after is None or d.added_at > after) and d.added_at <= until
        ]

    # -- outbox
    async def plan_digests(self, planned: Sequence[PlannedDigest]) -> int:
        m = self._m
        by_id = {s.id: s for s in m.subscriptions.values()}
        written = 0
        for plan in planned:
            key = (plan.subscription_id, utc(plan.scheduled))
            sub = by_id.get(plan.subscription_id)
            if key in m.outbox_keys or sub is None:
                continue
            entry = OutboxEntry(
                id=self._new_id(),
                subscription_id=plan.subscription_id,
                scheduled=key[1],
                chat_key=plan.chat_key,
                platform=plan.platform,
                chat_id=plan.chat_id,
                reply=plan.reply,
                status=OutboxStatus.QUEUED,
                created_at=utc(plan.planned_at),
                updated_at=utc(plan.planned_at),
            )
            m.outbox[entry.id] = entry
            m.outbox_keys[key] = entry.id
            moved = replace(
                sub,
                finding_cursor=plan.finding_cursor,
                recommendation_cursor=plan.recommendation_cursor,
                last_digest_at=utc(plan.planned_at),
            )
            m.subscriptions[(sub.chat_key, sub.inquiry)] = by_id[sub.id] = moved
            written += 1
        return written

    async def outbox_keys_since(self, since: datetime) -> set[tuple[int, datetime]]:
        return {key for key in self._m.outbox_keys if key[1] >= since}

    async def claim_outbox(
        self,
        now: datetime,
        owner: str,
        lease_until: datetime,
        platforms: Collection[str] | None = None,
        limit: int = 500,
    ) -> list[OutboxEntry]:
        ready = sorted(
            (
                e
                for e in self._m.outbox.values()
                if claimable(e, now) and (platforms is None or e.platform in platforms)
            ),
            key=_by_id,
        )[:limit]
        claimed = []
        for entry in ready:
            taken = replace(
                entry,
                status=OutboxStatus.SENDING,
                attempts=entry.attempts + 1,
                owner=owner,
                lease_expires=utc(lease_until),
                updated_at=utc(now),
                resumed=False,
            )
            self._m.outbox[entry.id] = taken
            claimed.append(replace(taken, resumed=entry.status is OutboxStatus.SENDING))
        return claimed

    async def renew_leases(
        self, entry_ids: Collection[int], owner: str, lease_until: datetime
    ) -> int:
        renewed = 0
        for entry_id in entry_ids:
            entry = self._m.outbox.get(entry_id)
            if entry is not None and _held(entry, owner):
                self._m.outbox[entry_id] = replace(entry, lease_expires=utc(lease_until))
                renewed += 1
        return renewed

    async def record_parts(self, entry_id: int, owner: str, parts_sent: int, at: datetime) -> bool:
        entry = self._m.outbox.get(entry_id)
        if entry is None or not _held(entry, owner):
            return False
        self._m.outbox[entry_id] = replace(entry, parts_sent=parts_sent, updated_at=utc(at))
        return True

    async def settle_outbox(
        self, owner: str, settlements: Sequence[Settlement], at: datetime
    ) -> int:
        settled = 0
        for done in settlements:
            entry = self._m.outbox.get(done.entry_id)
            if entry is None or not _held(entry, owner):
                continue
            self._finish(entry, done, at)
            settled += 1
        return settled

    def _finish(self, entry: OutboxEntry, done: Settlement, at: datetime) -> None:
        finished = done.status.finished
        self._m.outbox[entry.id] = replace(
            entry,
            reply=EMPTY_REPLY if finished else entry.reply,
            status=done.status,
            reason=done.reason,
            next_attempt_at=utc(done.next_attempt_at) if done.next_attempt_at else None,
            chat_id=done.chat_id or entry.chat_id,
            owner="",
            lease_expires=None,
            parts_sent=0 if finished else entry.parts_sent,
            updated_at=utc(at),
        )

    async def count_unfinished(self) -> int:
        return sum(e.status in UNFINISHED for e in self._m.outbox.values())

    async def take_lock(self, name: str, owner: str, now: datetime, until: datetime) -> str:
        held = self._m.locks.get(name)
        if held is None or held[0] == owner or held[1] <= now:
            self._m.locks[name] = (owner, utc(until))
            return owner
        return held[0]

    async def release_lock(self, name: str, owner: str) -> None:
        if self._m.locks.get(name, ("", None))[0] == owner:
            del self._m.locks[name]

    async def expire_outbox(self, scheduled_before: datetime, at: datetime, reason: str) -> int:
        stale = [
            e
            for e in self._m.outbox.values()
            if e.status in UNFINISHED and e.scheduled < scheduled_before
        ]
        for entry in stale:
            self._finish(entry, Settlement(entry.id, OutboxStatus.FAILED, reason), at)
        return len(stale)

    async def prune_outbox(self, scheduled_before: datetime) -> int:
        before = len(self._m.outbox)
        self._drop_outbox(lambda e: e.status.finished and e.scheduled < scheduled_before)
        return before - len(self._m.outbox)

    async def list_outbox(self, chat_key: str | None = None) -> list[OutboxEntry]:
        entries = [e for e in self._m.outbox.values() if chat_key in (None, e.chat_key)]
        return sorted(entries, key=_by_id)


def _by_id(item: Alert | OutboxEntry) -> int:
    return item.id


def claimable(entry: OutboxEntry, now: datetime) -> bool:
    """Queued; retry whose time has come; sending whose lease ran out (or that has none)."""
    if entry.status is OutboxStatus.SENDING:
        return entry.lease_expires is None or entry.lease_expires <= now
    if entry.status in UNFINISHED:
        return entry.next_attempt_at is None or entry.next_attempt_at <= now
    return False


def _held(entry: OutboxEntry, owner: str) -> bool:
    return entry.status is OutboxStatus.SENDING and entry.owner == owner
