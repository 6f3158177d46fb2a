"""The bot's :class:`bot.store.Store` in one SQLite file, through aiosqlite.

- WAL journal, so readers never wait for the writer; a busy timeout, so a second process
  (``inquiry-bot digests`` from cron next to a running bot) waits instead of failing.
- Two connections: reads go to one, writes to the other. Every write is a transaction
  opened with ``BEGIN IMMEDIATE`` (it takes the write lock up front, so it can't fail half
  way with SQLITE_BUSY) and an asyncio.Lock lets one coroutine write at a time.
- The schema is versioned with ``PRAGMA user_version``: opening an older database runs the
  missing migrations, each in its own transaction (a failure rolls it back and leaves the
  database as it was); a database newer than this code is refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from adapters.storage.common import (
    BOOL_COLUMNS,
    EMPTY_REPLY_BLOB,
    TABLES,
    TIME_COLUMNS,
    Decoder,
    Encoder,
    Migration,
)
from bot.digests.schedule import Frequency, Schedule
from bot.errors import ConfigError
from bot.messages import ChatKind, ChatRef, Reply
from bot.store import (
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
    utc,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
WAL_CHECKPOINT_PAGES = 10_000  # of 4 KB
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the log is cut back to after a checkpoint
DB_ENV = "INQUIRY_BOT_DB"


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "chats, subscriptions, alerts, the digest outbox, ingested documents",
        (
            """CREATE TABLE chats (
                chat_key TEXT PRIMARY KEY,
                platform TEXT NOT NULL,
                chat_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                title TEXT,
                timezone TEXT NOT NULL,
                active INTEGER NOT NULL DEFAULT 1,
                inactive_reason TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE subscriptions (
                id INTEGER PRIMARY KEY,
                chat_key TEXT NOT NULL UNIQUE
                    REFERENCES chats(chat_key) ON DELETE CASCADE ON UPDATE CASCADE,
                frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
                weekday INTEGER CHECK (weekday BETWEEN 0 AND 6),
                at_time TEXT NOT NULL,
                paused INTEGER NOT NULL DEFAULT 0,
                since TEXT NOT NULL,
                finding_cursor INTEGER NOT NULL DEFAULT 0,
                recommendation_cursor INTEGER NOT NULL DEFAULT 0,
                last_digest_at TEXT,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE alerts (
                id INTEGER PRIMARY KEY,
                chat_key TEXT NOT NULL
                    REFERENCES chats(chat_key) ON DELETE CASCADE ON UPDATE CASCADE,
                words TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX alerts_by_chat ON alerts(chat_key, id)",
            """CREATE TABLE outbox (
                id INTEGER PRIMARY KEY,
                subscription_id INTEGER NOT NULL
                    REFERENCES subscriptions(id) ON DELETE CASCADE,
                scheduled TEXT NOT NULL,
                chat_key TEXT NOT NULL
                    REFERENCES chats(chat_key) ON DELETE CASCADE ON UPDATE CASCADE,
                platform TEXT NOT NULL,
                chat_id TEXT NOT NULL,
                reply BLOB NOT NULL,  -- the Reply as zlib-compressed JSON
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TEXT,
                reason TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (subscription_id, scheduled)
            )""",
            "CREATE INDEX outbox_by_time ON outbox(scheduled)",
            "CREATE INDEX outbox_by_chat ON outbox(chat_key)",
            """CREATE INDEX outbox_unfinished ON outbox(id)
                WHERE status IN ('queued', 'sending', 'retry')""",
            """CREATE TABLE documents (
                id TEXT PRIMARY KEY,
                title TEXT NOT NULL,
                outlet TEXT,
                date TEXT,
                url TEXT,
                kind TEXT NOT NULL,
                added_at TEXT NOT NULL,
                text_hash TEXT NOT NULL UNIQUE,
                text TEXT NOT NULL
            )""",
            "CREATE INDEX documents_by_time ON documents(added_at)",
        ),
    ),
    Migration(
        2,
        "moderators' templates, every version kept, and each chat's digest template",
        (
            # Templates may be saved for a chat that has no other settings yet, so these
            # tables don't reference chats; forget_chat and move_chat handle them by name.
            """CREATE TABLE templates (
                chat_key TEXT NOT NULL,
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                source TEXT NOT NULL,
                author TEXT NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (chat_key, name, version)
            )""",
            """CREATE TABLE digest_templates (
                chat_key TEXT PRIMARY KEY,
                name TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        3,
        "leases on digests being sent, and the parts of a split digest delivered",
        (
            "ALTER TABLE outbox ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE outbox ADD COLUMN lease_expires TEXT",
            "ALTER TABLE outbox ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0",
            """CREATE TABLE locks (
                name TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                expires TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        4,
        "several inquiries: each chat's current one, a subscription per chat and inquiry, "
        "the inquiry of each added document",
        (
            # '' is "from before inquiries": the bot gives those rows to its default
            # inquiry when it starts (Store.adopt_unassigned).
            "ALTER TABLE chats ADD COLUMN inquiry TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE documents ADD COLUMN inquiry TEXT NOT NULL DEFAULT ''",
            # A UNIQUE constraint can't be altered: the table is built again, under its
            # new name at the end, so the outbox's reference to it holds.
            """CREATE TABLE subscriptions_v4 (
                id INTEGER PRIMARY KEY,
                chat_key TEXT NOT NULL
                    REFERENCES chats(chat_key) ON DELETE CASCADE ON UPDATE CASCADE,
                inquiry TEXT NOT NULL DEFAULT '',
                frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
                weekday INTEGER CHECK (weekday BETWEEN 0 AND 6),
                at_time TEXT NOT NULL,
                paused INTEGER NOT NULL DEFAULT 0,
                since TEXT NOT NULL,
                finding_cursor INTEGER NOT NULL DEFAULT 0,
                recommendation_cursor INTEGER NOT NULL DEFAULT 0,
                last_digest_at TEXT,
                created_at TEXT NOT NULL,
                UNIQUE (chat_key, inquiry)
            )""",
            """INSERT INTO subscriptions_v4
                   (id, chat_key, frequency, weekday, at_time, paused, since, finding_cursor,
                    recommendation_cursor, last_digest_at, created_at)
               SELECT id, chat_key, frequency, weekday, at_time, paused, since, finding_cursor,
                    recommendation_cursor, last_digest_at, created_at
               FROM subscriptions""",
            "DROP TABLE subscriptions",
            "ALTER TABLE subscriptions_v4 RENAME TO subscriptions",
        ),
        rebuilds_tables=True,
    ),
)


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    """$INQUIRY_BOT_DB, else $XDG_DATA_HOME/inquiry-bot/bot.db (~/.local/share by default)."""
    env = os.environ if environ is None else environ
    if env.get(DB_ENV):
        return Path(env[DB_ENV]).expanduser()
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "inquiry-bot" / "bot.db"


def _iso(moment: datetime) -> str:
    # Fixed width, so text order is time order.
    return utc(moment).isoformat(timespec="microseconds")


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _dt_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _probe(path: Path) -> None:
    """Open and close the file with plain sqlite3, so a path that cannot be a database fails
    here. When aiosqlite's own connect fails, its worker thread outlives the call and may
    report to an event loop that is already closed ("Event loop is closed" on stderr)."""
    sqlite3.connect(path).close()


async def _connect(path: Path, *, read_only: bool) -> aiosqlite.Connection:
    await asyncio.to_thread(_probe, path)
    db = await aiosqlite.connect(path, isolation_level=None)
    db.row_factory = aiosqlite.Row
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if read_only:
            await db.execute("PRAGMA query_only = ON")
        else:
            await db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL loses nothing when the process dies, only on power loss.
            await db.execute("PRAGMA synchronous = NORMAL")
            # Checkpoints (each two fsyncs) every 40 MB of log rather than every 4 MB: a
            # digest pass writes a lot, and on a busy disk fsyncs cost more than the writes.
            await db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            await db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        await db.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await db.close()
        raise
    return db


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """Bring the database up to the last migration; returns the version it ends at."""
    latest = migrations[-1].version if migrations else 0
    found = await _user_version(db)
    if found > latest:
        raise ConfigError(
            f"The database {path} is schema version {found}, newer than this inquiry-bot "
            f"understands (up to {latest}). Upgrade inquiry-bot, or use another file "
            f"(--db PATH or ${DB_ENV})."
        )
    for migration in migrations:
        await _apply(db, path, migration)
    return await _user_version(db)


async def _apply(db: aiosqlite.Connection, path: Path, migration: Migration) -> None:
    if not migration.rebuilds_tables:
        await _apply_in_transaction(db, path, migration)
        return
    await db.execute("PRAGMA foreign_keys = OFF")  # takes effect only outside a transaction
    try:
        await _apply_in_transaction(db, path, migration)
    finally:
        await db.execute("PRAGMA foreign_keys = ON")


async def _apply_in_transaction(
    db: aiosqlite.Connection, path: Path, migration: Migration
) -> None:
    await db.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have just migrated.
        if await _user_version(db) >= migration.version:
            await db.execute("COMMIT")
            return
        for statement in migration.statements:
            await db.execute(statement)
        if migration.rebuilds_tables:
            async with db.execute("PRAGMA foreign_key_check") as cursor:
                broken = await cursor.fetchall()
            if broken:
                raise sqlite3.IntegrityError(f"{len(broken)} rows lost their references")
        await db.execute(f"PRAGMA user_version = {int(migration.version)}")
        await db.execute("COMMIT")
    except sqlite3.Error as err:
        await db.execute("ROLLBACK")
        raise ConfigError(
            f"Could not upgrade the database {path} to schema version {migration.version} "
            f"({migration.description}): {err}. Nothing was changed."
        ) from err
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    log.info(
        "database %s migrated to version %d: %s", path, migration.version, migration.description
    )


class SqliteStore:
    """A :class:`bot.store.Store` in a SQLite file. Open with ``await SqliteStore.open(path)``."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._encode = Encoder()
        self._decode = Decoder()

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], migrations: Sequence[Migration] = MIGRATIONS
    ) -> SqliteStore:
        db_path = Path(path).expanduser()
        if db_path.is_dir():
            raise ConfigError(
                f"The database {db_path} is a folder; give a file instead, such as "
                f"{db_path / 'bot.db'} (--db PATH or ${DB_ENV})."
            )
        if db_path.exists() and not db_path.is_file():  # a device or a pipe: it may even hang
            raise ConfigError(
                f"The database {db_path} is not a regular file; give the path of a file "
                f"(--db PATH or ${DB_ENV})."
            )
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            writer = await _connect(db_path, read_only=False)
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"Cannot open the database {db_path}: {err}") from err
        try:
            await migrate(writer, db_path, migrations)
            reader = await _connect(db_path, read_only=True)
        except sqlite3.DatabaseError as err:
            await writer.close()
            raise ConfigError(f"Cannot use {db_path} as the bot's database: {err}") from err
        except BaseException:
            await writer.close()
            raise
        return cls(db_path, writer, reader)

    def _outbox(self, row: sqlite3.Row) -> OutboxEntry:
        return _outbox(row, self._decode)

    async def close(self) -> None:
        async with self._write_lock:
            await self._reader.close()
            await self._writer.close()

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def schema_version(self) -> int:
        return await _user_version(self._reader)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
                await self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                raise

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        # fetchall steps the statement to its end, so no read transaction (and no stale
        # snapshot of the file) is left open on the reader between calls.
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    # -- whole tables, for ``inquiry-bot db copy``

    async def table_counts(self) -> dict[str, int]:
        counts = {}
        for table in TABLES:
            row = await self._row(f"SELECT count(*) FROM {table}")
            counts[table] = int(row[0]) if row else 0
        return counts

    async def export_table(self, table: str) -> list[dict[str, Any]]:
        """Every row, by primary key, with times as datetimes and truth values as bools."""
        rows = await self._rows(f"SELECT * FROM {_known(table)} ORDER BY 1")
        return [{k: _from_sqlite(k, row[k]) for k in row.keys()} for row in rows]

    async def import_table(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        async with self._write() as db:
            await db.executemany(
                f"INSERT INTO {_known(table)} ({', '.join(columns)}) "
                f"VALUES ({_marks(len(columns))})",
                [[_to_sqlite(c, row[c]) for c in columns] for row in rows],
            )

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

    # -- moderators' templates

    async def save_template(
        self, chat_key: str, name: str, source: str, author: str, at: datetime
    ) -> int:
        async with self._write() as db:
            async with db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM templates WHERE chat_key = ? AND name = ?",
                (chat_key, name),
            ) as cursor:
                row = await cursor.fetchone()
            version = (int(row[0]) if row else 0) + 1
            await db.execute(
                """INSERT INTO templates (chat_key, name, version, source, author, created_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (chat_key, name, version, source, author, _iso(at)),
            )
        return version

    async def get_template(
        self, chat_key: str, name: str, version: int | None = None
    ) -> TemplateVersion | None:
        if version is None:
            row = await self._row(
                """SELECT * FROM templates WHERE chat_key = ? AND name = ?
                   ORDER BY version DESC LIMIT 1""",
                (chat_key, name),
            )
        else:
            row = await self._row(
                "SELECT * FROM templates WHERE chat_key = ? AND name = ? AND version = ?",
                (chat_key, name, version),
            )
        return _template(row) if row else None

    async def list_templates(self, chat_key: str) -> list[TemplateVersion]:
        rows = await self._rows(
            """SELECT t.* FROM templates t
               JOIN (SELECT name, MAX(version) AS version FROM templates
                     WHERE chat_key = ? GROUP BY name) latest
                 USING (name, version)
               WHERE t.chat_key = ? ORDER BY t.name""",
            (chat_key, chat_key),
        )
        return [_template(row) for row in rows]

    async def template_history(self, chat_key: str, name: str) -> list[TemplateVersion]:
        rows = await self._rows(
            "SELECT * FROM templates WHERE chat_key = ? AND name = ? ORDER BY version",
            (chat_key, name),
        )
        return [_template(row) for row in rows]

    async def remove_template(self, chat_key: str, name: str) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM templates WHERE chat_key = ? AND name = ?", (chat_key, name)
            )
            await db.execute(
                "DELETE FROM digest_templates WHERE chat_key = ? AND name = ?", (chat_key, name)
            )
            return cursor.rowcount > 0

    async def set_digest_template(self, chat_key: str, name: str | None) -> None:
        async with self._write() as db:
            if name is None:
                await db.execute("DELETE FROM digest_templates WHERE chat_key = ?", (chat_key,))
            else:
                await db.execute(
                    """INSERT INTO digest_templates (chat_key, name) VALUES (?, ?)
                       ON CONFLICT (chat_key) DO UPDATE SET name = excluded.name""",
                    (chat_key, name),
                )

    async def get_digest_template(self, chat_key: str) -> str | None:
        row = await self._row("SELECT name FROM digest_templates WHERE chat_key = ?", (chat_key,))
        return str(row["name"]) if row else None

    async def digest_templates(self, chat_keys: Collection[str]) -> dict[str, TemplateVersion]:
        found: dict[str, TemplateVersion] = {}
        for chunk in _chunks(list(chat_keys)):
            rows = await self._rows(
                f"""SELECT t.* FROM digest_templates d
                    JOIN templates t ON t.chat_key = d.chat_key AND t.name = d.name
                    WHERE d.chat_key IN ({_marks(len(chunk))})
                    ORDER BY t.version""",
                chunk,
            )
            for row in rows:  # by version, so the latest wins
                found[row["chat_key"]] = _template(row)
        return found

    # -- documents

    async def add_document(self, record: DocumentRecord) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                """INSERT INTO documents
                       (id, title, outlet, date, url, kind, added_at, text_hash, text,
                        inquiry)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT DO NOTHING""",
                (
                    record.id,
                    record.title,
                    record.outlet,
                    record.date,
                    record.url,
                    record.kind,
                    _iso(record.added_at),
                    record.text_hash,
                    record.text,
                    record.inquiry,
                ),
            )
            return cursor.rowcount > 0

    async def find_document_by_hash(self, text_hash: str) -> DocumentRecord | None:
        row = await self._row("SELECT * FROM documents WHERE text_hash = ?", (text_hash,))
        return _document(row) if row else None

    async def list_documents(self) -> list[DocumentRecord]:
        rows = await self._rows("SELECT * FROM documents ORDER BY added_at, id")
        return [_document(row) for row in rows]

    async def documents_added_between(
        self, after: datetime | None, until: datetime
    ) -> list[DocumentRecord]:
        rows = await self._rows(
            """SELECT * FROM documents WHERE added_at > ? AND added_at <= ?
               ORDER BY added_at, id""",
            ("" if after is None else _iso(after), _iso(until)),
        )
        return [_document(row) for row in rows]

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


# -- SQL helpers ------------------------------------------------------------------------------


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


async def _plan_chunk(
    db: aiosqlite.Connection, chunk: list[PlannedDigest], encode: Encoder
) -> int:
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


def _known(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"no table {table!r}")
    return table


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


def _chat(row: sqlite3.Row) -> ChatSettings:
    return ChatSettings(
        key=row["chat_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        kind=ChatKind(row["kind"]),
        timezone=row["timezone"],
        created_at=_dt(row["created_at"]),
        title=row["title"],
        active=bool(row["active"]),
        inactive_reason=row["inactive_reason"],
        inquiry=row["inquiry"],
    )


class _ScheduleCache:
    def __init__(self) -> None:
        self._done: dict[tuple[str, str, int | None], Schedule] = {}

    def __call__(self, frequency: str, at_time: str, weekday: int | None) -> Schedule:
        key = (frequency, at_time, weekday)
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = _schedule(frequency, at_time, weekday)
        return found


def _schedule(frequency: str, at_time: str, weekday: int | None) -> Schedule:
    return Schedule(Frequency(frequency), time.fromisoformat(at_time), weekday)


def _subscription(
    row: sqlite3.Row,
    times: Callable[[str], datetime] = _dt,
    schedules: Callable[[str, str, int | None], Schedule] = _schedule,
) -> Subscription:
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
        last_digest_at=None if row["last_digest_at"] is None else times(row["last_digest_at"]),
        active=bool(row["active"]),
        inquiry=row["inquiry"],
    )


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(row["id"], row["chat_key"], row["words"], _dt(row["created_at"]))


def _template(row: sqlite3.Row) -> TemplateVersion:
    return TemplateVersion(
        row["chat_key"],
        row["name"],
        row["version"],
        row["source"],
        row["author"],
        _dt(row["created_at"]),
    )


def _document(row: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(
        id=row["id"],
        title=row["title"],
        added_at=_dt(row["added_at"]),
        text_hash=row["text_hash"],
        text=row["text"],
        outlet=row["outlet"],
        date=row["date"],
        url=row["url"],
        kind=row["kind"],
        inquiry=row["inquiry"],
    )


def _outbox(row: sqlite3.Row, unpack: Callable[[bytes], Reply]) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        subscription_id=row["subscription_id"],
        scheduled=_dt(row["scheduled"]),
        chat_key=row["chat_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        reply=unpack(row["reply"]),
        status=OutboxStatus(row["status"]),
        created_at=_dt(row["created_at"]),
        updated_at=_dt(row["updated_at"]),
        attempts=row["attempts"],
        next_attempt_at=_dt_or_none(row["next_attempt_at"]),
        reason=row["reason"],
        owner=row["owner"],
        lease_expires=_dt_or_none(row["lease_expires"]),
        parts_sent=row["parts_sent"],
    )
