"""The PostgreSQL store, put together from its parts."""

from __future__ import annotations

from adapters.storage.postgres.chats import Chats
from adapters.storage.postgres.outbox import Outbox
from adapters.storage.postgres.templates_documents import TemplatesAndDocuments


class PostgresStore(Chats, TemplatesAndDocuments, Outbox):
    """A :class:`bot.store.Store` in PostgreSQL. Open with ``await PostgresStore.open(url)``."""
