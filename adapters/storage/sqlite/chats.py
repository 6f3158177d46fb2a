"""The SQLite store's chats, subscriptions and alerts."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from adapters.storage.sqlite.connection import SqliteBase
from adapters.storage.sqlite.rows import (
    _SUBSCRIPTION_SQL,
    _UNFINISHED_SQL,
    _alert,
    _chat,
    _chunks,
    _forget,
    _insert_chat,
    _iso,
    _marks,
    _read_back_chat,
    _read_back_subscription,
    _ScheduleCache,
    _subscription,
    _TimeCache,
)
from bot.digests.schedule import Schedule
from bot.messages import ChatRef
from bot.store import Alert, ChatSettings, Subscription, utc


class Chats(SqliteBase):
    """The store's chats, subscriptions and alerts: a part of :class:`SqliteStore`."""

    # -- chats

    async def get_chat(self, chat_key: str) -> ChatSettings | None:
        row = await self._row("SELECT * FROM chats WHERE chat_key = ?", (chat_key,))
        return _chat(row) if row else None

    async def ensure_chat(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            return await _read_back_chat(db, chat.key)

    async def set_timezone(self, chat: ChatRef, timezone: str, at: datetime) -> ChatSettings:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            await db.execute(
                "UPDATE chats SET timezone = ? WHERE chat_key = ?", (timezone, chat.key)
            )
            return await _read_back_chat(db, chat.key)

    async def deactivate_chat(self, chat_key: str, reason: str) -> None:
        async with self._write() as db:
            await db.execute(
                "UPDATE chats SET active = 0, inactive_reason = ? WHERE chat_key = ?",
                (reason, chat_key),
            )

    async def move_chat(self, old_key: str, new: ChatRef) -> bool:
        async with self._write() as db:
            async with db.execute("SELECT 1 FROM chats WHERE chat_key = ?", (old_key,)) as cur:
                if await cur.fetchone() is None:
                    return False
            if new.key != old_key:
                await _forget(db, new.key)
            # Subscriptions, alerts and outbox rows follow the key (ON UPDATE CASCADE).
            await db.execute(
                """UPDATE chats SET chat_key = ?, platform = ?, chat_id = ?, kind = ?,
                       title = COALESCE(?, title)
                   WHERE chat_key = ?""",
                (new.key, new.platform, new.id, str(new.kind), new.title, old_key),
            )
            await db.execute(
                f"""UPDATE outbox SET platform = ?,
                       chat_id = CASE WHEN status IN ({_UNFINISHED_SQL}) THEN ? ELSE chat_id END
                   WHERE chat_key = ?""",
                (new.platform, new.id, new.key),
            )
            await db.execute(
                "UPDATE templates SET chat_key = ? WHERE chat_key = ?", (new.key, old_key)
            )
            await db.execute(
                "UPDATE digest_templates SET chat_key = ? WHERE chat_key = ?", (new.key, old_key)
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
            await db.execute("UPDATE chats SET inquiry = ? WHERE chat_key = ?", (inquiry, chat.key))
            return await _read_back_chat(db, chat.key)

    async def adopt_unassigned(self, inquiry: str) -> int:
        changed = 0
        async with self._write() as db:
            # A chat that somehow has both keeps the one already named.
            await db.execute(
                """DELETE FROM subscriptions WHERE inquiry = '' AND chat_key IN
                       (SELECT chat_key FROM subscriptions WHERE inquiry = ?)""",
                (inquiry,),
            )
            for table in ("chats", "subscriptions", "documents"):
                cursor = await db.execute(
                    f"UPDATE {table} SET inquiry = ? WHERE inquiry = ''", (inquiry,)
                )
                changed += cursor.rowcount
        return changed

    # -- subscriptions

    async def subscribe(
        self, chat: ChatRef, schedule: Schedule, timezone: str, at: datetime, inquiry: str = ""
    ) -> Subscription:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            await db.execute(
                "UPDATE chats SET active = 1, inactive_reason = '' WHERE chat_key = ?",
                (chat.key,),
            )
            await db.execute(
                """INSERT INTO subscriptions
                       (chat_key, inquiry, frequency, weekday, at_time, paused, since,
                        created_at)
                   VALUES (?, ?, ?, ?, ?, 0, ?, ?)
                   ON CONFLICT (chat_key, inquiry) DO UPDATE SET
                       frequency = excluded.frequency, weekday = excluded.weekday,
                       at_time = excluded.at_time, paused = 0, since = excluded.since""",
                (
                    chat.key,
                    inquiry,
                    str(schedule.frequency),
                    schedule.weekday,
                    schedule.hhmm,
                    _iso(at),
                    _iso(at),
                ),
            )
            found = await _read_back_subscription(db, chat.key, inquiry)
        assert found is not None
        return found

    async def get_subscription(self, chat_key: str, inquiry: str = "") -> Subscription | None:
        row = await self._row(
            f"{_SUBSCRIPTION_SQL} WHERE s.chat_key = ? AND s.inquiry = ?", (chat_key, inquiry)
        )
        return _subscription(row) if row else None

    async def list_subscriptions(self, chat_key: str) -> list[Subscription]:
        rows = await self._rows(
            f"{_SUBSCRIPTION_SQL} WHERE s.chat_key = ? ORDER BY s.id", (chat_key,)
        )
        return [_subscription(row) for row in rows]

    async def set_paused(
        self, chat_key: str, paused: bool, at: datetime, inquiry: str = ""
    ) -> Subscription | None:
        async with self._write() as db:
            # Resuming owes only what falls due from now on.
            await db.execute(
                """UPDATE subscriptions SET
                       since = CASE WHEN paused = 1 AND ? = 0 THEN ? ELSE since END,
                       paused = ?
                   WHERE chat_key = ? AND inquiry = ?""",
                (int(paused), _iso(at), int(paused), chat_key, inquiry),
            )
            return await _read_back_subscription(db, chat_key, inquiry)

    async def unsubscribe(self, chat_key: str, inquiry: str = "") -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM subscriptions WHERE chat_key = ? AND inquiry = ?",
                (chat_key, inquiry),
            )
            return cursor.rowcount > 0

    async def active_subscriptions(
        self, platforms: Collection[str] | None = None
    ) -> list[Subscription]:
        sql = f"{_SUBSCRIPTION_SQL} WHERE c.active = 1 AND s.paused = 0"
        params: list[Any] = []
        if platforms is not None:
            sql += f" AND c.platform IN ({_marks(len(platforms))})"
            params.extend(platforms)
        rows = await self._rows(sql + " ORDER BY s.id", params)
        # Thousands of subscriptions share a few schedules and start times: parse each once.
        times, schedules = _TimeCache(), _ScheduleCache()
        return [_subscription(row, times, schedules) for row in rows]

    # -- alerts

    async def add_alert(self, chat: ChatRef, words: str, timezone: str, at: datetime) -> Alert:
        async with self._write() as db:
            await _insert_chat(db, chat, timezone, at)
            cursor = await db.execute(
                "INSERT INTO alerts (chat_key, words, created_at) VALUES (?, ?, ?)",
                (chat.key, words, _iso(at)),
            )
            alert_id = cursor.lastrowid
        assert alert_id is not None
        return Alert(alert_id, chat.key, words, utc(at))

    async def list_alerts(self, chat_key: str) -> list[Alert]:
        rows = await self._rows("SELECT * FROM alerts WHERE chat_key = ? ORDER BY id", (chat_key,))
        return [_alert(row) for row in rows]

    async def remove_alert(self, chat_key: str, alert_id: int) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM alerts WHERE chat_key = ? AND id = ?", (chat_key, alert_id)
            )
            return cursor.rowcount > 0

    async def alerts_for_chats(self, chat_keys: Collection[str]) -> dict[str, list[Alert]]:
        found: dict[str, list[Alert]] = {}
        for chunk in _chunks(list(chat_keys)):
            rows = await self._rows(
                f"SELECT * FROM alerts WHERE chat_key IN ({_marks(len(chunk))}) ORDER BY id",
                chunk,
            )
            for row in rows:
                found.setdefault(row["chat_key"], []).append(_alert(row))
        return found
