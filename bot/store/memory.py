"""The in-memory store: every :class:`bot.store.interface.Store` promise kept in dictionaries."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.digests.schedule import Schedule
from bot.messages import ChatRef
from bot.store.helpers import utc
from bot.store.interface import (
    EMPTY_REPLY,
    UNFINISHED,
    Alert,
    ChatSettings,
    DocumentRecord,
    OutboxEntry,
    OutboxStatus,
    PlannedDigest,
    Settlement,
    Subscription,
    TemplateVersion,
)


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
