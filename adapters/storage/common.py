"""What both database stores share: numbered migrations, replies packed for the outbox, rows
read into records, and closing when a ``with`` block ends."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from types import TracebackType
from typing import Any, Self

from bot.digests.schedule import Frequency, Schedule
from bot.messages import ChatKind, Reply
from bot.store import (
    EMPTY_REPLY,
    Alert,
    ChatSettings,
    DocumentRecord,
    OutboxEntry,
    OutboxStatus,
    Subscription,
    TemplateVersion,
    reply_from_json,
    reply_to_json,
)

# Every table a store keeps, parents before children: the order ``db copy`` fills them in.
TABLES = (
    "chats",
    "subscriptions",
    "alerts",
    "templates",
    "digest_templates",
    "documents",
    "outbox",
)
# Columns stored as times (text in SQLite, timestamptz in PostgreSQL) and as truth values.
TIME_COLUMNS = frozenset(
    {
        "created_at",
        "updated_at",
        "since",
        "last_digest_at",
        "scheduled",
        "next_attempt_at",
        "lease_expires",
        "added_at",
    }
)
BOOL_COLUMNS = frozenset({"active", "paused"})


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    # SQLite: builds a table again (its way to change a constraint), so foreign keys are off
    # while it runs (dropping the old table cascades to nothing) and checked before it commits.
    rebuilds_tables: bool = False


def pack(reply: Reply) -> bytes:
    # Digests are repetitive text: compressed, 10,000 queued ones take a few MB, not 30.
    return zlib.compress(reply_to_json(reply).encode("utf-8"), 6)


def unpack(blob: bytes) -> Reply:
    return reply_from_json(zlib.decompress(blob).decode("utf-8"))


EMPTY_REPLY_BLOB = pack(EMPTY_REPLY)


class Encoder:
    """Encodes replies for the outbox; digests that share content share one Reply object,
    so each is encoded once. Holding the object keeps its id from being reused."""

    def __init__(self, limit: int = 2_000) -> None:
        self._limit = limit
        self._done: dict[int, tuple[Reply, bytes]] = {}

    def __call__(self, reply: Reply) -> bytes:
        found = self._done.get(id(reply))
        if found is not None:
            return found[1]
        if len(self._done) >= self._limit:
            self._done.clear()
        packed = pack(reply)
        self._done[id(reply)] = (reply, packed)
        return packed


class Decoder:
    """Digests planned together often share their text: each distinct one is parsed once."""

    def __init__(self, limit: int = 2_000) -> None:
        self._limit = limit
        self._done: dict[bytes, Reply] = {}

    def __call__(self, blob: bytes) -> Reply:
        found = self._done.get(blob)
        if found is None:
            if len(self._done) >= self._limit:
                self._done.clear()
            found = self._done[blob] = unpack(blob)
        return found


def known_table(table: str) -> str:
    """The name, if it is one of the store's tables: table names are put into SQL text."""
    if table not in TABLES:
        raise ValueError(f"no table {table!r}")
    return table


class ClosedOnExit:
    """``async with store:`` closes the store when the block ends."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# Rows into records. A row is a sqlite3.Row or an asyncpg.Record, read by column name; times
# turns a stored time into an aware datetime (SQLite keeps text, PostgreSQL hands back
# datetimes).
Times = Callable[[Any], datetime]


def chat_from_row(row: Any, times: Times) -> ChatSettings:
    return ChatSettings(
        key=row["chat_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        kind=ChatKind(row["kind"]),
        timezone=row["timezone"],
        created_at=times(row["created_at"]),
        title=row["title"],
        active=bool(row["active"]),
        inactive_reason=row["inactive_reason"],
        inquiry=row["inquiry"],
    )


def alert_from_row(row: Any, times: Times) -> Alert:
    return Alert(row["id"], row["chat_key"], row["words"], times(row["created_at"]))


def template_from_row(row: Any, times: Times) -> TemplateVersion:
    return TemplateVersion(
        row["chat_key"],
        row["name"],
        row["version"],
        row["source"],
        row["author"],
        times(row["created_at"]),
    )


def document_from_row(row: Any, times: Times) -> DocumentRecord:
    return DocumentRecord(
        id=row["id"],
        title=row["title"],
        added_at=times(row["added_at"]),
        text_hash=row["text_hash"],
        text=row["text"],
        outlet=row["outlet"],
        date=row["date"],
        url=row["url"],
        kind=row["kind"],
        inquiry=row["inquiry"],
    )


def schedule_of(frequency: str, at_time: str, weekday: int | None) -> Schedule:
    return Schedule(Frequency(frequency), time.fromisoformat(at_time), weekday)


def subscription_from_row(
    row: Any,
    times: Times,
    schedules: Callable[[str, str, int | None], Schedule] = schedule_of,
) -> Subscription:
    """A subscription joined with its chat's platform, id, time zone and state.
    ``schedules`` may be memoised: a digest pass reads thousands of rows with a few."""
    last = row["last_digest_at"]
    return Subscription(
        id=row["id"],
        chat_key=row["chat_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        timezone=row["timezone"],
        schedule=schedules(row["frequency"], row["at_time"], row["weekday"]),
        since=times(row["since"]),
        created_at=times(row["created_at"]),
        paused=bool(row["paused"]),
        finding_cursor=row["finding_cursor"],
        recommendation_cursor=row["recommendation_cursor"],
        last_digest_at=None if last is None else times(last),
        active=bool(row["active"]),
        inquiry=row["inquiry"],
    )


def outbox_from_row(
    row: Any, unpack: Decoder, times: Times, *, resumed: bool = False
) -> OutboxEntry:
    next_attempt, lease = row["next_attempt_at"], row["lease_expires"]
    return OutboxEntry(
        id=row["id"],
        subscription_id=row["subscription_id"],
        scheduled=times(row["scheduled"]),
        chat_key=row["chat_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        reply=unpack(row["reply"]),
        status=OutboxStatus(row["status"]),
        created_at=times(row["created_at"]),
        updated_at=times(row["updated_at"]),
        attempts=row["attempts"],
        next_attempt_at=None if next_attempt is None else times(next_attempt),
        reason=row["reason"],
        owner=row["owner"],
        lease_expires=None if lease is None else times(lease),
        parts_sent=row["parts_sent"],
        resumed=resumed,
    )
