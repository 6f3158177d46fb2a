"""The SQLite store, put together from its parts."""

from __future__ import annotations

from adapters.storage.sqlite.chats import Chats
from adapters.storage.sqlite.outbox import Outbox
from adapters.storage.sqlite.templates_documents import TemplatesAndDocuments


class SqliteStore(Chats, TemplatesAndDocuments, Outbox):
    """A :class:`bot.store.Store` in a SQLite file. Open with ``await SqliteStore.open(path)``."""
