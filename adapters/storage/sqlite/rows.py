"""SQL helpers of the SQLite store: rows read into records, values written as SQLite keeps them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import aiosqlite

from adapters.storage.common import (
    BOOL_COLUMNS,
    TIME_COLUMNS,
    Decoder,
    Encoder,
    alert_from_row,
    chat_from_row,
    document_from_row,
    outbox_from_row,
    schedule_of,
    subscription_from_row,
    template_from_row,
)
from bot.digests.schedule import Schedule
from bot.messages import ChatRef
from bot.store import (
    UNFINISHED,
    Alert,
    ChatSettings,
    DocumentRecord,
    OutboxEntry,
    PlannedDigest,
    Subscription,
    TemplateVersion,
    utc,
)


def _iso(moment: datetime) -> str:
    # Fixed width, so text order is time order.
    return utc(moment).isoformat(timespec="microseconds")


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _dt_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


_UNFINISHED_SQL = ", ".join(f"'{status}'" for status in UNFINISHED)
_SUBSCRIPTION_SQL = """SELECT s.*, c.platform, c.chat_id, c.timezone, c.active
    FROM subscriptions s JOIN chats c ON c.chat_key = s.chat_key"""
# Well under SQLite's limit on bound parameters per statement.
_CHUNK = 500


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Read back through the writer, inside its transaction: what was just written is certain to be
# seen, whatever snapshot the separate reader connection (or another process) is on.
async def _read_back_chat(db: aiosqlite.Connection, chat_key: str) -> ChatSettings:
    async with db.execute("SELECT * FROM chats WHERE chat_key = ?", (chat_key,)) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return _chat(row)


async def _read_back_subscription(
    db: aiosqlite.Connection, chat_key: str, inquiry: str
) -> Subscription | None:
    sql = f"{_SUBSCRIPTION_SQL} WHERE s.chat_key = ? AND s.inquiry = ?"
    async with db.execute(sql, (chat_key, inquiry)) as cursor:
        row = await cursor.fetchone()
    return _subscription(row) if row else None


async def _insert_chat(
    db: aiosqlite.Connection, chat: ChatRef, timezone: str, at: datetime
) -> None:
    await db.execute(
        """INSERT INTO chats (chat_key, platform, chat_id, kind, title, timezone, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_key) DO NOTHING""",
        (chat.key, chat.platform, chat.id, str(chat.kind), chat.title, timezone, _iso(at)),
    )


async def _forget(db: aiosqlite.Connection, chat_key: str) -> bool:
    # Subscriptions, alerts and outbox rows go with the chat (ON DELETE CASCADE).
    cursor = await db.execute("DELETE FROM chats WHERE chat_key = ?", (chat_key,))
    found = cursor.rowcount > 0
    for table in ("templates", "digest_templates"):
        cursor = await db.execute(f"DELETE FROM {table} WHERE chat_key = ?", (chat_key,))
        found = found or cursor.rowcount > 0
    return found


async def _plan_chunk(db: aiosqlite.Connection, chunk: list[PlannedDigest], encode: Encoder) -> int:
    ids = sorted({plan.subscription_id for plan in chunk})
    async with db.execute(
        f"SELECT id FROM subscriptions WHERE id IN ({_marks(len(ids))})", ids
    ) as cursor:
        alive = {int(row[0]) for row in await cursor.fetchall()}
    async with db.execute(
        f"SELECT subscription_id, scheduled FROM outbox WHERE subscription_id IN "
        f"({_marks(len(ids))})",
        ids,
    ) as cursor:
        taken = {(int(row[0]), row[1]) for row in await cursor.fetchall()}
    iso = _IsoCache()
    fresh: list[PlannedDigest] = []
    for plan in chunk:
        key = (plan.subscription_id, iso(plan.scheduled))
        if plan.subscription_id in alive and key not in taken:
            taken.add(key)
            fresh.append(plan)
    await db.executemany(
        """INSERT INTO outbox (subscription_id, scheduled, chat_key, platform, chat_id, reply,
                               status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)""",
        [
            (
                p.subscription_id,
                iso(p.scheduled),
                p.chat_key,
                p.platform,
                p.chat_id,
                encode(p.reply),
                iso(p.planned_at),
                iso(p.planned_at),
            )
            for p in fresh
        ],
    )
    await db.executemany(
        """UPDATE subscriptions SET finding_cursor = ?, recommendation_cursor = ?,
               last_digest_at = ? WHERE id = ?""",
        [
            (p.finding_cursor, p.recommendation_cursor, iso(p.planned_at), p.subscription_id)
            for p in fresh
        ],
    )
    return len(fresh)


class _TimeCache:
    """A page of claimed digests shares a handful of distinct times."""

    def __init__(self) -> None:
        self._done: dict[str, datetime] = {}

    def __call__(self, text: str) -> datetime:
        found = self._done.get(text)
        if found is None:
            found = self._done[text] = _dt(text)
        return found


def _from_sqlite(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in TIME_COLUMNS:
        return _dt(value)
    if column in BOOL_COLUMNS:
        return bool(value)
    return value


def _to_sqlite(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in TIME_COLUMNS:
        return _iso(value)
    if column in BOOL_COLUMNS:
        return int(value)
    return value


class _IsoCache:
    """A pass plans thousands of rows with a handful of distinct times."""

    def __init__(self) -> None:
        self._done: dict[datetime, str] = {}

    def __call__(self, moment: datetime) -> str:
        text = self._done.get(moment)
        if text is None:
            text = self._done[moment] = _iso(moment)
        return text


class _ScheduleCache:
    def __init__(self) -> None:
        self._done: dict[tuple[str, str, int | None], Schedule] = {}

    def __call__(self, frequency: str, at_time: str, weekday: int | None) -> Schedule:
        key = (frequency, at_time, weekday)
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = schedule_of(frequency, at_time, weekday)
        return found


def _subscription(
    row: sqlite3.Row,
    times: Callable[[str], datetime] = _dt,
    schedules: Callable[[str, str, int | None], Schedule] = schedule_of,
) -> Subscription:
    return subscription_from_row(row, times, schedules)


def _outbox(row: sqlite3.Row, unpack: Decoder) -> OutboxEntry:
    return outbox_from_row(row, unpack, _dt)


def _chat(row: sqlite3.Row) -> ChatSettings:
    return chat_from_row(row, _dt)


def _alert(row: sqlite3.Row) -> Alert:
    return alert_from_row(row, _dt)


def _template(row: sqlite3.Row) -> TemplateVersion:
    return template_from_row(row, _dt)


def _document(row: sqlite3.Row) -> DocumentRecord:
    return document_from_row(row, _dt)
