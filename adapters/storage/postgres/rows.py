"""SQL helpers of the PostgreSQL store: rows read into records."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters.storage.common import (
    Decoder,
    alert_from_row,
    chat_from_row,
    document_from_row,
    outbox_from_row,
    subscription_from_row,
    template_from_row,
)
from bot.messages import ChatRef
from bot.store import (
    UNFINISHED,
    Alert,
    ChatSettings,
    DocumentRecord,
    OutboxEntry,
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
    return subscription_from_row(row, _as_is)


def _outbox(row: asyncpg.Record, unpack: Decoder) -> OutboxEntry:
    # ``resumed`` only when the claim's query says so (it was claimed from a lapsed holder).
    return outbox_from_row(row, unpack, _as_is, resumed=bool(row.get("resumed", False)))


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
