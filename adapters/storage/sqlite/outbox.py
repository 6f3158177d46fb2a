"""The SQLite store's digest outbox: planning, claims with leases, outcomes, locks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from adapters.storage.common import EMPTY_REPLY_BLOB
from adapters.storage.sqlite.connection import SqliteBase
from adapters.storage.sqlite.rows import (
    _UNFINISHED_SQL,
    _chunks,
    _dt,
    _dt_or_none,
    _iso,
    _iso_or_none,
    _marks,
    _plan_chunk,
    _TimeCache,
)
from bot.store import OutboxEntry, OutboxStatus, PlannedDigest, Settlement, utc


class Outbox(SqliteBase):
    """The store's digest outbox, its leases and its locks: a part of :class:`SqliteStore`."""

    # -- the outbox

    async def plan_digests(self, planned: Sequence[PlannedDigest]) -> int:
        written = 0
        async with self._write() as db:
            for chunk in _chunks(list(planned)):
                written += await _plan_chunk(db, chunk, self._encode)
        return written

    async def outbox_keys_since(self, since: datetime) -> set[tuple[int, datetime]]:
        rows = await self._rows(
            "SELECT subscription_id, scheduled FROM outbox WHERE scheduled >= ?", (_iso(since),)
        )
        return {(int(row[0]), _dt(row[1])) for row in rows}

    async def claim_outbox(
        self,
        now: datetime,
        owner: str,
        lease_until: datetime,
        platforms: Collection[str] | None = None,
        limit: int = 500,
    ) -> list[OutboxEntry]:
        wanted = list(platforms) if platforms is not None else None
        if wanted == []:
            return []
        only = "" if wanted is None else f"AND platform IN ({_marks(len(wanted))})"
        when = _iso(now)
        # BEGIN IMMEDIATE holds the write lock from the read to the update: another
        # process's claim waits for this one and then sees these entries as taken.
        async with self._write() as db:
            async with db.execute(
                f"""SELECT * FROM outbox
                    WHERE status IN ({_UNFINISHED_SQL}) {only}
                      AND CASE WHEN status = 'sending'
                               THEN lease_expires IS NULL OR lease_expires <= ?
                               ELSE next_attempt_at IS NULL OR next_attempt_at <= ? END
                    ORDER BY id LIMIT ?""",
                (*(wanted or ()), when, when, limit),
            ) as cursor:
                rows = list(await cursor.fetchall())
            for chunk in _chunks([row["id"] for row in rows]):
                await db.execute(
                    f"""UPDATE outbox SET status = 'sending', attempts = attempts + 1,
                            owner = ?, lease_expires = ?, updated_at = ?
                        WHERE id IN ({_marks(len(chunk))})""",
                    (owner, _iso(lease_until), when, *chunk),
                )
        times = _TimeCache()
        return [
            OutboxEntry(
                id=row["id"],
                subscription_id=row["subscription_id"],
                scheduled=times(row["scheduled"]),
                chat_key=row["chat_key"],
                platform=row["platform"],
                chat_id=row["chat_id"],
                reply=self._decode(row["reply"]),
                status=OutboxStatus.SENDING,
                created_at=times(row["created_at"]),
                updated_at=utc(now),
                attempts=row["attempts"] + 1,
                next_attempt_at=_dt_or_none(row["next_attempt_at"]),
                reason=row["reason"],
                owner=owner,
                lease_expires=utc(lease_until),
                parts_sent=row["parts_sent"],
                resumed=row["status"] == "sending",
            )
            for row in rows
        ]

    async def renew_leases(
        self, entry_ids: Collection[int], owner: str, lease_until: datetime
    ) -> int:
        renewed = 0
        async with self._write() as db:
            for chunk in _chunks(list(entry_ids)):
                cursor = await db.execute(
                    f"""UPDATE outbox SET lease_expires = ?
                        WHERE owner = ? AND status = 'sending' AND id IN ({_marks(len(chunk))})""",
                    (_iso(lease_until), owner, *chunk),
                )
                renewed += cursor.rowcount
        return renewed

    async def record_parts(self, entry_id: int, owner: str, parts_sent: int, at: datetime) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                """UPDATE outbox SET parts_sent = ?, updated_at = ?
                   WHERE id = ? AND owner = ? AND status = 'sending'""",
                (parts_sent, _iso(at), entry_id, owner),
            )
            return cursor.rowcount > 0

    async def settle_outbox(
        self, owner: str, settlements: Sequence[Settlement], at: datetime
    ) -> int:
        when = _iso(at)
        async with self._write() as db:
            before = db.total_changes
            await db.executemany(
                """UPDATE outbox SET status = ?, reason = ?, next_attempt_at = ?,
                       chat_id = COALESCE(?, chat_id), updated_at = ?, owner = '',
                       lease_expires = NULL,
                       parts_sent = CASE WHEN ? THEN 0 ELSE parts_sent END,
                       reply = CASE WHEN ? THEN ? ELSE reply END
                   WHERE id = ? AND owner = ? AND status = 'sending'""",
                [
                    (
                        str(s.status),
                        s.reason,
                        _iso_or_none(s.next_attempt_at),
                        s.chat_id,
                        when,
                        s.status.finished,
                        s.status.finished,
                        EMPTY_REPLY_BLOB,
                        s.entry_id,
                        owner,
                    )
                    for s in settlements
                ],
            )
            return db.total_changes - before

    async def count_unfinished(self) -> int:
        row = await self._row(f"SELECT count(*) FROM outbox WHERE status IN ({_UNFINISHED_SQL})")
        return int(row[0]) if row else 0

    async def take_lock(self, name: str, owner: str, now: datetime, until: datetime) -> str:
        async with self._write() as db:
            await db.execute(
                """INSERT INTO locks (name, owner, expires) VALUES (?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                       expires = excluded.expires
                   WHERE locks.owner = excluded.owner OR locks.expires <= ?""",
                (name, owner, _iso(until), _iso(now)),
            )
            async with db.execute("SELECT owner FROM locks WHERE name = ?", (name,)) as cursor:
                row = await cursor.fetchone()
        return str(row[0]) if row else owner

    async def release_lock(self, name: str, owner: str) -> None:
        async with self._write() as db:
            await db.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    async def expire_outbox(self, scheduled_before: datetime, at: datetime, reason: str) -> int:
        async with self._write() as db:
            cursor = await db.execute(
                f"""UPDATE outbox SET status = 'failed', reason = ?, updated_at = ?, reply = ?,
                        owner = '', lease_expires = NULL, parts_sent = 0
                    WHERE status IN ({_UNFINISHED_SQL}) AND scheduled < ?""",
                (reason, _iso(at), EMPTY_REPLY_BLOB, _iso(scheduled_before)),
            )
            return cursor.rowcount

    async def prune_outbox(self, scheduled_before: datetime) -> int:
        async with self._write() as db:
            cursor = await db.execute(
                f"""DELETE FROM outbox
                    WHERE status NOT IN ({_UNFINISHED_SQL}) AND scheduled < ?""",
                (_iso(scheduled_before),),
            )
            return cursor.rowcount

    async def list_outbox(self, chat_key: str | None = None) -> list[OutboxEntry]:
        if chat_key is None:
            rows = await self._rows("SELECT * FROM outbox ORDER BY id")
        else:
            rows = await self._rows(
                "SELECT * FROM outbox WHERE chat_key = ? ORDER BY id", (chat_key,)
            )
        return [self._outbox(row) for row in rows]
