"""The PostgreSQL store's chats, subscriptions and alerts."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from adapters.storage.postgres.connection import PostgresBase
from adapters.storage.postgres.rows import (
    _SUBSCRIPTION_SQL,
    _UNFINISHED,
    _alert,
    _chat,
    _chat_values,
    _count,
    _forget,
    _insert_chat,
    _read_back_subscription,
    _subscription,
)
from bot.digests.schedule import Schedule
from bot.messages import ChatRef
from bot.store import Alert, ChatSettings, Subscription, utc


class Chats(PostgresBase):
    """The store's chats, subscriptions and alerts: a part of :class:`PostgresStore`."""

    # -- chats

    async def get_chat(self, chat_key: str) -> ChatSettings | None:
        row = await self._row("SELECT * FROM chats WHERE chat_key = $1", chat_key)
        return _chat(row) if row else None

    async def ensure_chat(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            return _chat(await db.fetchrow("SELECT * FROM chats WHERE chat_key = $1", chat.key))

    async def set_timezone(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            row = await db.fetchrow(
                "UPDATE chats SET timezone = $1 WHERE chat_key = $2 RETURNING *",
                timezone,
                chat.key,
            )
            return _chat(row)

    async def deactivate_chat(self, chat_key: str, reason: str) -> None:
        await self._pool.execute(
            "UPDATE chats SET active = false, inactive_reason = $1 WHERE chat_key = $2",
            reason,
            chat_key,
        )

    async def move_chat(self, old_key: str, new: ChatRef) -> bool:
        async with self._write() as db:
            if await db.fetchval("SELECT 1 FROM chats WHERE chat_key = $1", old_key) is None:
                return False
            if new.key != old_key:
                await _forget(db, new.key)
            # Subscriptions, alerts and outbox rows follow the key (ON UPDATE CASCADE).
            await db.execute(
                """UPDATE chats SET chat_key = $1, platform = $2, chat_id = $3, kind = $4,
                       title = COALESCE($5, title)
                   WHERE chat_key = $6""",
                new.key,
                new.platform,
                new.id,
                str(new.kind),
                new.title,
                old_key,
            )
            await db.execute(
                """UPDATE outbox SET platform = $1,
                       chat_id = CASE WHEN status = ANY($2::text[]) THEN $3 ELSE chat_id END
                   WHERE chat_key = $4""",
                new.platform,
                _UNFINISHED,
                new.id,
                new.key,
            )
            for table in ("templates", "digest_templates"):
                await db.execute(
                    f"UPDATE {table} SET chat_key = $1 WHERE chat_key = $2", new.key, old_key
                )
        return True

    async def forget_chat(self, chat_key: str) -> bool:
        async with self._write() as db:
            return await _forget(db, chat_key)

    async def set_chat_inquiry(
        self, chat: ChatRef, inquiry: str, timezone: str, at: datetime
    ) -> ChatSettings:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            row = await db.fetchrow(
                "UPDATE chats SET inquiry = $1 WHERE chat_key = $2 RETURNING *", inquiry, chat.key
            )
            return _chat(row)

    async def adopt_unassigned(self, inquiry: str) -> int:
        changed = 0
        async with self._write() as db:
            # A chat that somehow has both keeps the one already named.
            await db.execute(
                """DELETE FROM subscriptions WHERE inquiry = '' AND chat_key IN
                       (SELECT chat_key FROM subscriptions WHERE inquiry = $1)""",
                inquiry,
            )
            for table in ("chats", "subscriptions", "documents"):
                status = await db.execute(
                    f"UPDATE {table} SET inquiry = $1 WHERE inquiry = ''", inquiry
                )
                changed += _count(status)
        return changed

    # -- subscriptions

    async def subscribe(
        self, chat: ChatRef, schedule: Schedule, timezone: str, at: datetime, inquiry: str = ""
    ) -> Subscription:
        # One statement, so one round trip: it is its own transaction, and the foreign key
        # from the subscription to the chat inserted beside it is checked at its end.
        row = await self._row(
            """WITH c AS (
                   INSERT INTO chats
                       (chat_key, platform, chat_id, kind, title, timezone, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (chat_key) DO UPDATE SET active = true, inactive_reason = ''
                   RETURNING chat_key, platform, chat_id, timezone, active
               ), s AS (
                   INSERT INTO subscriptions
                       (chat_key, frequency, weekday, at_time, paused, since, created_at,
                        inquiry)
                   VALUES ($1, $8, $9, $10, false, $7, $7, $11)
                   ON CONFLICT (chat_key, inquiry) DO UPDATE SET
                       frequency = excluded.frequency, weekday = excluded.weekday,
                       at_time = excluded.at_time, paused = false, since = excluded.since
                   RETURNING *
               )
               SELECT s.*, c.platform, c.chat_id, c.timezone, c.active
               FROM s JOIN c ON c.chat_key = s.chat_key""",
            *_chat_values(chat, timezone, at),
            str(schedule.frequency),
            schedule.weekday,
            schedule.hhmm,
            inquiry,
        )
        assert row is not None
        return _subscription(row)

    async def get_subscription(self, chat_key: str, inquiry: str = "") -> Subscription | None:
        row = await self._row(
            f"{_SUBSCRIPTION_SQL} WHERE s.chat_key = $1 AND s.inquiry = $2", chat_key, inquiry
        )
        return _subscription(row) if row else None

    async def list_subscriptions(self, chat_key: str) -> list[Subscription]:
        rows = await self._rows(
            f"{_SUBSCRIPTION_SQL} WHERE s.chat_key = $1 ORDER BY s.id", chat_key
        )
        return [_subscription(row) for row in rows]

    async def set_paused(
        self, chat_key: str, paused: bool, at: datetime, inquiry: str = ""
    ) -> Subscription | None:
        async with self._write() as db:
            # Resuming owes only what falls due from now on.
            await db.execute(
                """UPDATE subscriptions SET
                       since = CASE WHEN paused AND NOT $1 THEN $2 ELSE since END,
                       paused = $1
                   WHERE chat_key = $3 AND inquiry = $4""",
                paused,
                utc(at),
                chat_key,
                inquiry,
            )
            return await _read_back_subscription(db, chat_key, inquiry)

    async def unsubscribe(self, chat_key: str, inquiry: str = "") -> bool:
        status = await self._pool.execute(
            "DELETE FROM subscriptions WHERE chat_key = $1 AND inquiry = $2", chat_key, inquiry
        )
        return _count(status) > 0

    async def active_subscriptions(
        self, platforms: Collection[str] | None = None
    ) -> list[Subscription]:
        rows = await self._rows(
            f"""{_SUBSCRIPTION_SQL} WHERE c.active AND NOT s.paused
                  AND ($1::text[] IS NULL OR c.platform = ANY($1::text[]))
                ORDER BY s.id""",
            None if platforms is None else list(platforms),
        )
        return [_subscription(row) for row in rows]

    # -- alerts

    async def add_alert(self, chat: ChatRef, words: str, timezone: str, at: datetime) -> Alert:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            alert_id = await db.fetchval(
                "INSERT INTO alerts (chat_key, words, created_at) VALUES ($1, $2, $3) RETURNING id",
                chat.key,
                words,
                utc(at),
            )
        return Alert(int(alert_id), chat.key, words, utc(at))

    async def list_alerts(self, chat_key: str) -> list[Alert]:
        rows = await self._rows("SELECT * FROM alerts WHERE chat_key = $1 ORDER BY id", chat_key)
        return [_alert(row) for row in rows]

    async def remove_alert(self, chat_key: str, alert_id: int) -> bool:
        status = await self._pool.execute(
            "DELETE FROM alerts WHERE chat_key = $1 AND id = $2", chat_key, alert_id
        )
        return _count(status) > 0

    async def alerts_for_chats(self, chat_keys: Collection[str]) -> dict[str, list[Alert]]:
        rows = await self._rows(
            "SELECT * FROM alerts WHERE chat_key = ANY($1::text[]) ORDER BY id", list(chat_keys)
        )
        found: dict[str, list[Alert]] = {}
        for row in rows:
            found.setdefault(row["chat_key"], []).append(_alert(row))
        return found
