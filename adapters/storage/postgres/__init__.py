"""The bot's :class:`bot.store.Store` in a PostgreSQL database, through asyncpg.

- A connection pool: any number of ``serve`` workers and cron ``digests`` runs share one
  database. Every write is one transaction; rows two processes may race for are claimed with
  ``FOR UPDATE SKIP LOCKED`` (the outbox) or taken under an advisory lock (template versions).
- Migrations are numbered as the SQLite store's are (adapters/storage/sqlite/) and kept in
  step with them: version N means the same tables in both. They run at start under an
  advisory lock, so processes starting together migrate once; each migration is one
  transaction; a database newer than this code is refused.

The package's modules: connection.py (URLs, the pool, migrating, transactions),
migrations.py (the schema), rows.py (SQL helpers), chats.py, templates_documents.py and
outbox.py (the store's parts), store.py (:class:`PostgresStore`, all of them together).
"""

from adapters.storage.common import Migration
from adapters.storage.postgres.connection import is_postgres_url, redacted
from adapters.storage.postgres.migrations import MIGRATIONS
from adapters.storage.postgres.store import PostgresStore

__all__ = ["MIGRATIONS", "Migration", "PostgresStore", "is_postgres_url", "redacted"]
