"""Which store a database setting names: a PostgreSQL URL, or a SQLite file (the default).

    postgresql://user:password@host:5432/dbname       PostgreSQL over TCP
    postgresql://postgres:@/postgres?host=/run/pg     PostgreSQL over a Unix socket
    sqlite:///srv/bot/bot.db   or   /srv/bot/bot.db    a SQLite file
"""

from __future__ import annotations

from pathlib import Path

from adapters.storage.postgres import PostgresStore, is_postgres_url, redacted
from adapters.storage.sqlite import SqliteStore

SQLITE_PREFIX = "sqlite:///"


def describe(target: str | Path) -> str:
    """The setting as it may be shown: a URL's password is never printed."""
    text = str(target)
    return redacted(text) if is_postgres_url(text) else text


def sqlite_path(target: str | Path) -> Path:
    text = str(target)
    if text.startswith(SQLITE_PREFIX):
        # sqlite:///relative/x.db and sqlite:////abs/x.db, as SQLAlchemy reads them.
        text = text[len(SQLITE_PREFIX) :]
    return Path(text).expanduser()


async def open_store(target: str | Path) -> SqliteStore | PostgresStore:
    """Open (creating or upgrading as needed) the store the setting names."""
    text = str(target)
    if is_postgres_url(text):
        return await PostgresStore.open(text)
    return await SqliteStore.open(sqlite_path(text))
