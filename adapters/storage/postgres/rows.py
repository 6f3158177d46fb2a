"""SQL helpers of the PostgreSQL store: rows read into records."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from adapters.storage.common import (
    Decoder,
    alert_from_row,
    chat_from_row,
    document_from_row,
    template_from_row,
)
from bot.digests.schedule import Frequency, Schedule
from bot.messages import ChatRef
from bot.store import (
    UNFINISHED,
    Alert,
    ChatSettings,
    DocumentRecord,
    OutboxEntry,
    OutboxStatus,
    Subscription,
    TemplateVersion,
    utc,
)

if TYPE_CHECKING:  # asyncpg is imported when a PostgreSQL database is opened, not at start-up
    import asyncpg


_UNFINISHED = [str(status) for status in UNFINISHED]


_SUBSCRIPTION_SQL = """SELECT s.*, c.platform, c.chat_id, c.timezone, c.active
    FROM subscriptions s JOIN chats c ON c.chat_key = s.chat_key"""


_IDENTITY_TABLES = frozenset({"subscriptions", "alerts", "outbox"})


def _count(status: str) -> int:
    """The row count at the end of a command tag such as ``UPDATE 3`` or ``INSERT 0 1``."""
    return int(status.rsplit(" ", 1)[-1])


async def _insert_chat(db: asyncpg.Connection, chat: ChatRef, timezone: str, at: datetime) -> None:
    await db.execute(
        """INSERT INTO chats (chat_key, platform, chat_id, kind, title, timezone, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chat_key) DO NOTHING""",
        *_chat_values(chat, timezone, at),
    )


def _chat_values(chat: ChatRef, timezone: str, at: datetime) -> tuple[Any, ...]:
    """A new chat's columns, in the order of the INSERTs above."""
    return (chat.key, chat.platform, chat.id, str(chat.kind), chat.title, timezone, utc(at))


async def _read_back_subscription(
    db: asyncpg.Connection, chat_key: str, inquiry: str
) -> Subscription | None:
    row = await db.fetchrow(
        f"{_SUBSCRIPTION_SQL} WHERE s.chat_key = $1 AND s.inquiry = $2", chat_key, inquiry
    )
    return _subscription(row) if row else None


async def _forget(db: asyncpg.Connection, chat_key: str) -> bool:
    # Subscriptions, alerts and outbox rows go with the chat (ON DELETE CASCADE).
    found = _count(await db.execute("DELETE FROM chats WHERE chat_key = $1", chat_key)) > 0
    for table in ("templates", "digest_templates"):
        status = await db.execute(f"DELETE FROM {table} WHERE chat_key = $1", chat_key)
        found = found or _count(status) > 0
    return found


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"],
        chat_key=row["chat_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        timezone=row["timezone"],
        schedule=Schedule(
            Frequency(row["frequency"]), time.fromisoformat(row["at_time"]), row["weekday"]
        ),
        since=row["since"],
        created_at=row["created_at"],
        paused=row["paused"],
        finding_cursor=row["finding_cursor"],
        recommendation_cursor=row["recommendation_cursor"],
        last_digest_at=row["last_digest_at"],
        active=row["active"],
        inquiry=row["inquiry"],
    )


def _outbox(row: asyncpg.Record, unpack: Decoder) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        subscription_id=row["subscription_id"],
        scheduled=row["scheduled"],
        chat_key=row["chat_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        reply=unpack(row["reply"]),
        status=OutboxStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        reason=row["reason"],
        owner=row["owner"],
        lease_expires=row["lease_expires"],
        parts_sent=row["parts_sent"],
        resumed=bool(row.get("resumed", False)),
    )


def _as_is(moment: datetime) -> datetime:
    return moment  # asyncpg hands back timestamptz columns as aware datetimes


def _chat(row: asyncpg.Record) -> ChatSettings:
    return chat_from_row(row, _as_is)


def _alert(row: asyncpg.Record) -> Alert:
    return alert_from_row(row, _as_is)


def _template(row: asyncpg.Record) -> TemplateVersion:
    return template_from_row(row, _as_is)


def _document(row: asyncpg.Record) -> DocumentRecord:
    return document_from_row(row, _as_is)
