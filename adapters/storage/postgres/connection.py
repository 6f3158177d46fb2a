"""Opening a PostgreSQL database: its URL, its pool, its migrations run under an
advisory lock, reads and write transactions, and whole tables copied for ``inquiry-bot db copy``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit, urlunsplit

from adapters.storage.common import TABLES, ClosedOnExit, Decoder, Encoder, Migration, known_table
from bot.errors import ConfigError
from bot.store import OutboxEntry

if TYPE_CHECKING:  # asyncpg is imported when a PostgreSQL database is opened, not at start-up
    import asyncpg

from adapters.storage.postgres.migrations import MIGRATIONS
from adapters.storage.postgres.rows import _IDENTITY_TABLES, _outbox

log = logging.getLogger(__name__)

# pg_advisory_lock key for migrations: any fixed number no other program on the database uses.
MIGRATION_LOCK = 7_305_113_001
POOL_SIZE = 10


def is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


async def schema_version(db: asyncpg.Connection) -> int:
    exists = await db.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    found = await db.fetchval("SELECT max(version) FROM schema_version")
    return int(found or 0)


async def migrate(db: asyncpg.Connection, where: str, migrations: Sequence[Migration]) -> int:
    """Bring the database up to the last migration under an advisory lock; returns the version."""
    latest = migrations[-1].version if migrations else 0
    await db.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        found = await schema_version(db)
        if found > latest:
            raise ConfigError(
                f"The database {where} is schema version {found}, newer than this inquiry-bot "
                f"understands (up to {latest}). Upgrade inquiry-bot, or use another database."
            )
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        for migration in migrations:
            if migration.version > found:
                await _apply(db, where, migration)
        return await schema_version(db)
    finally:
        await db.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def _apply(db: asyncpg.Connection, where: str, migration: Migration) -> None:
    try:
        async with db.transaction():
            for statement in migration.statements:
                await db.execute(statement)
            await db.execute("INSERT INTO schema_version (version) VALUES ($1)", migration.version)
    except _asyncpg().PostgresError as err:
        raise ConfigError(
            f"Could not upgrade the database {where} to schema version {migration.version} "
            f"({migration.description}): {err}. Nothing was changed."
        ) from err
    log.info(
        "database %s migrated to version %d: %s", where, migration.version, migration.description
    )


def _asyncpg() -> Any:
    # Most deployments use SQLite: the driver costs a tenth of a second to import.
    import asyncpg  # noqa: PLC0415

    return asyncpg


class PostgresBase(ClosedOnExit):
    """The pool every part of :class:`PostgresStore` works through."""

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = redacted(url)
        self._pool = pool
        self._encode = Encoder()
        self._decode = Decoder()

    @classmethod
    async def open(
        cls,
        url: str,
        migrations: Sequence[Migration] = MIGRATIONS,
        pool_size: int = POOL_SIZE,
    ) -> Self:
        where = redacted(url)
        driver = _asyncpg()
        try:
            pool = await driver.create_pool(url, min_size=1, max_size=pool_size)
        except (OSError, driver.PostgresError, driver.InterfaceError, ValueError) as err:
            raise ConfigError(f"Cannot connect to the database {where}: {err}") from err
        try:
            async with pool.acquire() as db:
                await migrate(db, where, migrations)
        except BaseException:
            await pool.close()
            raise
        return cls(url, pool)

    async def close(self) -> None:
        await self._pool.close()

    async def schema_version(self) -> int:
        async with self._pool.acquire() as db:
            return await schema_version(db)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as db, db.transaction():
            yield db

    async def _rows(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        return list(await self._pool.fetch(sql, *params))

    async def _row(self, sql: str, *params: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._pool.fetchrow(sql, *params)
        return row

    def _outbox(self, row: asyncpg.Record) -> OutboxEntry:
        return _outbox(row, self._decode)

    # -- whole tables, for ``inquiry-bot db copy``

    async def table_counts(self) -> dict[str, int]:
        counts = {}
        for table in TABLES:
            counts[table] = int(await self._pool.fetchval(f"SELECT count(*) FROM {table}"))
        return counts

    async def export_table(self, table: str) -> list[dict[str, Any]]:
        """Every row, by primary key."""
        rows = await self._rows(f"SELECT * FROM {known_table(table)} ORDER BY 1")
        return [dict(row) for row in rows]

    async def import_table(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        async with self._write() as db:
            await db.copy_records_to_table(
                known_table(table),
                records=[tuple(row[c] for c in columns) for row in rows],
                columns=columns,
            )
            if "id" in columns and table in _IDENTITY_TABLES:
                # The next id handed out comes after the copied ones.
                await db.execute(
                    f"""SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                      (SELECT max(id) FROM {table}))"""
                )
