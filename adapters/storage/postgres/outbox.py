"""The PostgreSQL store's digest outbox: planning, claims with leases, outcomes, locks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from adapters.storage.common import EMPTY_REPLY_BLOB
from adapters.storage.postgres.connection import PostgresBase
from adapters.storage.postgres.rows import _UNFINISHED, _count
from bot.store import OutboxEntry, PlannedDigest, Settlement, utc


class Outbox(PostgresBase):
    """The store's digest outbox, its leases and its locks: a part of :class:`PostgresStore`."""

    # -- the outbox

    async def plan_digests(self, planned: Sequence[PlannedDigest]) -> int:
        if not planned:
            return 0
        encode = self._encode
        async with self._write() as db:
            # Written only for subscriptions still there and keys not yet taken; the cursors
            # move for exactly the rows written, in the same transaction.
            written = await db.fetch(
                """INSERT INTO outbox (subscription_id, scheduled, chat_key, platform, chat_id,
                                       reply, status, created_at, updated_at)
                   SELECT p.sid, p.scheduled, p.chat_key, p.platform, p.chat_id, p.reply,
                          'queued', p.at, p.at
                   FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[],
                               $5::text[], $6::bytea[], $7::timestamptz[])
                        AS p(sid, scheduled, chat_key, platform, chat_id, reply, at)
                   JOIN subscriptions s ON s.id = p.sid
                   ON CONFLICT (subscription_id, scheduled) DO NOTHING
                   RETURNING subscription_id""",
                [p.subscription_id for p in planned],
                [utc(p.scheduled) for p in planned],
                [p.chat_key for p in planned],
                [p.platform for p in planned],
                [p.chat_id for p in planned],
                [encode(p.reply) for p in planned],
                [utc(p.planned_at) for p in planned],
            )
            fresh = {int(row[0]) for row in written}
            moves = {p.subscription_id: p for p in planned if p.subscription_id in fresh}
            await db.execute(
                """UPDATE subscriptions s SET finding_cursor = m.f,
                       recommendation_cursor = m.r, last_digest_at = m.at
                   FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::timestamptz[])
                        AS m(id, f, r, at)
                   WHERE s.id = m.id""",
                list(moves),
                [p.finding_cursor for p in moves.values()],
                [p.recommendation_cursor for p in moves.values()],
                [utc(p.planned_at) for p in moves.values()],
            )
        return len(written)

    async def outbox_keys_since(self, since: datetime) -> set[tuple[int, datetime]]:
        rows = await self._rows(
            "SELECT subscription_id, scheduled FROM outbox WHERE scheduled >= $1", utc(since)
        )
        return {(int(row[0]), row[1]) for row in rows}

    async def claim_outbox(
        self,
        now: datetime,
        owner: str,
        lease_until: datetime,
        platforms: Collection[str] | None = None,
        limit: int = 500,
    ) -> list[OutboxEntry]:
        rows = await self._rows(
            """WITH picked AS (
                   SELECT id, status = 'sending' AS resumed FROM outbox
                   WHERE status = ANY($1::text[])
                     AND ($2::text[] IS NULL OR platform = ANY($2::text[]))
                     AND CASE WHEN status = 'sending'
                              THEN lease_expires IS NULL OR lease_expires <= $3
                              ELSE next_attempt_at IS NULL OR next_attempt_at <= $3 END
                   ORDER BY id LIMIT $4
                   FOR UPDATE SKIP LOCKED
               )
               UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,
                   owner = $5, lease_expires = $6, updated_at = $3
               FROM picked WHERE o.id = picked.id
               RETURNING o.*, picked.resumed""",
            _UNFINISHED,
            None if platforms is None else list(platforms),
            utc(now),
            limit,
            owner,
            utc(lease_until),
        )
        entries = [self._outbox(row) for row in rows]
        return sorted(entries, key=lambda e: e.id)

    async def renew_leases(
        self, entry_ids: Collection[int], owner: str, lease_until: datetime
    ) -> int:
        status = await self._pool.execute(
            """UPDATE outbox SET lease_expires = $1
               WHERE id = ANY($2::bigint[]) AND owner = $3 AND status = 'sending'""",
            utc(lease_until),
            list(entry_ids),
            owner,
        )
        return _count(status)

    async def record_parts(self, entry_id: int, owner: str, parts_sent: int, at: datetime) -> bool:
        status = await self._pool.execute(
            """UPDATE outbox SET parts_sent = $1, updated_at = $2
               WHERE id = $3 AND owner = $4 AND status = 'sending'""",
            parts_sent,
            utc(at),
            entry_id,
            owner,
        )
        return _count(status) > 0

    async def settle_outbox(
        self, owner: str, settlements: Sequence[Settlement], at: datetime
    ) -> int:
        if not settlements:
            return 0
        status = await self._pool.execute(
            """UPDATE outbox o SET status = s.status, reason = s.reason,
                   next_attempt_at = s.next_at, chat_id = COALESCE(s.chat_id, o.chat_id),
                   updated_at = $7, owner = '', lease_expires = NULL,
                   parts_sent = CASE WHEN s.finished THEN 0 ELSE o.parts_sent END,
                   reply = CASE WHEN s.finished THEN $8 ELSE o.reply END
               FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[],
                           $5::text[], $6::boolean[])
                    AS s(id, status, reason, next_at, chat_id, finished)
               WHERE o.id = s.id AND o.owner = $9 AND o.status = 'sending'""",
            [s.entry_id for s in settlements],
            [str(s.status) for s in settlements],
            [s.reason for s in settlements],
            [utc(s.next_attempt_at) if s.next_attempt_at else None for s in settlements],
            [s.chat_id for s in settlements],
            [s.status.finished for s in settlements],
            utc(at),
            EMPTY_REPLY_BLOB,
            owner,
        )
        return _count(status)

    async def count_unfinished(self) -> int:
        found = await self._pool.fetchval(
            "SELECT count(*) FROM outbox WHERE status = ANY($1::text[])", _UNFINISHED
        )
        return int(found)

    async def take_lock(self, name: str, owner: str, now: datetime, until: datetime) -> str:
        async with self._write() as db:
            await db.execute(
                """INSERT INTO locks (name, owner, expires) VALUES ($1, $2, $3)
                   ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                       expires = excluded.expires
                   WHERE locks.owner = excluded.owner OR locks.expires <= $4""",
                name,
                owner,
                utc(until),
                utc(now),
            )
            holder = await db.fetchval("SELECT owner FROM locks WHERE name = $1", name)
        return str(holder)

    async def release_lock(self, name: str, owner: str) -> None:
        await self._pool.execute("DELETE FROM locks WHERE name = $1 AND owner = $2", name, owner)

    async def expire_outbox(self, scheduled_before: datetime, at: datetime, reason: str) -> int:
        status = await self._pool.execute(
            """UPDATE outbox SET status = 'failed', reason = $1, updated_at = $2, reply = $3,
                   owner = '', lease_expires = NULL, parts_sent = 0
               WHERE status = ANY($4::text[]) AND scheduled < $5""",
            reason,
            utc(at),
            EMPTY_REPLY_BLOB,
            _UNFINISHED,
            utc(scheduled_before),
        )
        return _count(status)

    async def prune_outbox(self, scheduled_before: datetime) -> int:
        status = await self._pool.execute(
            "DELETE FROM outbox WHERE NOT (status = ANY($1::text[])) AND scheduled < $2",
            _UNFINISHED,
            utc(scheduled_before),
        )
        return _count(status)

    async def list_outbox(self, chat_key: str | None = None) -> list[OutboxEntry]:
        rows = await self._rows(
            "SELECT * FROM outbox WHERE $1::text IS NULL OR chat_key = $1 ORDER BY id", chat_key
        )
        return [self._outbox(row) for row in rows]
