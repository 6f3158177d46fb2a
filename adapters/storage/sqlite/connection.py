"""Opening a SQLite database: its connections, its migrations run, reads and write
transactions, and whole tables copied for ``inquiry-bot db copy``."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite

from adapters.storage.common import TABLES, ClosedOnExit, Decoder, Encoder, Migration, known_table
from adapters.storage.sqlite.migrations import MIGRATIONS
from adapters.storage.sqlite.rows import _from_sqlite, _marks, _outbox, _to_sqlite
from bot.errors import ConfigError
from bot.store import OutboxEntry

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
WAL_CHECKPOINT_PAGES = 10_000  # of 4 KB
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the log is cut back to after a checkpoint
DB_ENV = "INQUIRY_BOT_DB"


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    """$INQUIRY_BOT_DB, else $XDG_DATA_HOME/inquiry-bot/bot.db (~/.local/share by default)."""
    env = os.environ if environ is None else environ
    if env.get(DB_ENV):
        return Path(env[DB_ENV]).expanduser()
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "inquiry-bot" / "bot.db"


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


async def _apply_in_transaction(db: aiosqlite.Connection, path: Path, migration: Migration) -> None:
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
                broken = list(await cursor.fetchall())
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


class SqliteBase(ClosedOnExit):
    """The connections every part of :class:`SqliteStore` works through."""

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
    ) -> Self:
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
        rows = await self._rows(f"SELECT * FROM {known_table(table)} ORDER BY 1")
        return [{k: _from_sqlite(k, row[k]) for k in row.keys()} for row in rows]

    async def import_table(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        async with self._write() as db:
            await db.executemany(
                f"INSERT INTO {known_table(table)} ({', '.join(columns)}) "
                f"VALUES ({_marks(len(columns))})",
                [[_to_sqlite(c, row[c]) for c in columns] for row in rows],
            )
