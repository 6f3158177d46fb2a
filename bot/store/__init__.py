"""What the bot remembers about chats: the core's storage interface and an in-memory store.

The records and the :class:`Store` Protocol are in :mod:`bot.store.interface`, the helpers
every store uses in :mod:`bot.store.helpers`, and :class:`InMemoryStore` in
:mod:`bot.store.memory`; every name is importable from ``bot.store`` itself.
"""

from bot.store.helpers import reply_from_json, reply_to_json, text_hash, utc
from bot.store.interface import (
    EMPTY_REPLY,
    UNFINISHED,
    Alert,
    ChatSettings,
    DocumentRecord,
    OutboxEntry,
    OutboxStatus,
    PlannedDigest,
    Settlement,
    Store,
    Subscription,
    TemplateVersion,
)
from bot.store.memory import InMemoryStore, claimable

__all__ = [
    "EMPTY_REPLY",
    "UNFINISHED",
    "Alert",
    "ChatSettings",
    "DocumentRecord",
    "InMemoryStore",
    "OutboxEntry",
    "OutboxStatus",
    "PlannedDigest",
    "Settlement",
    "Store",
    "Subscription",
    "TemplateVersion",
    "claimable",
    "reply_from_json",
    "reply_to_json",
    "text_hash",
    "utc",
]
