"""The bot's :class:`bot.store.Store` in one SQLite file, through aiosqlite.

- WAL journal, so readers never wait for the writer; a busy timeout, so a second process
  (``inquiry-bot digests`` from cron next to a running bot) waits instead of failing.
- Two connections: reads go to one, writes to the other. Every write is a transaction
  opened with ``BEGIN IMMEDIATE`` (it takes the write lock up front, so it can't fail half
  way with SQLITE_BUSY) and an asyncio.Lock lets one coroutine write at a time.
- The schema is versioned with ``PRAGMA user_version``: opening an older database runs the
  missing migrations, each in its own transaction (a failure rolls it back and leaves the
  database as it was); a database newer than this code is refused.

The package's modules: connection.py (opening, migrating, transactions), migrations.py (the
schema), rows.py (SQL helpers), chats.py, templates_documents.py and outbox.py (the store's
parts), store.py (:class:`SqliteStore`, all of them together).
"""

from adapters.storage.common import Migration
from adapters.storage.sqlite.connection import DB_ENV, default_db_path
from adapters.storage.sqlite.migrations import MIGRATIONS
from adapters.storage.sqlite.store import SqliteStore

__all__ = ["DB_ENV", "MIGRATIONS", "Migration", "SqliteStore", "default_db_path"]
