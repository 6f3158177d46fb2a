"""What both database stores share: numbered migrations, and replies packed for the outbox."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from bot.messages import Reply
from bot.store import EMPTY_REPLY, reply_from_json, reply_to_json

# Every table a store keeps, parents before children: the order ``db copy`` fills them in.
TABLES = (
    "chats",
    "subscriptions",
    "alerts",
    "templates",
    "digest_templates",
    "documents",
    "outbox",
)
# Columns stored as times (text in SQLite, timestamptz in PostgreSQL) and as truth values.
TIME_COLUMNS = frozenset(
    {
        "created_at",
        "updated_at",
        "since",
        "last_digest_at",
        "scheduled",
        "next_attempt_at",
        "lease_expires",
        "added_at",
    }
)
BOOL_COLUMNS = frozenset({"active", "paused"})


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    # SQLite: builds a table again (its way to change a constraint), so foreign keys are off
    # while it runs (dropping the old table cascades to nothing) and checked before it commits.
    rebuilds_tables: bool = False


def pack(reply: Reply) -> bytes:
    # Digests are repetitive text: compressed, 10,000 queued ones take a few MB, not 30.
    return zlib.compress(reply_to_json(reply).encode("utf-8"), 6)


def unpack(blob: bytes) -> Reply:
    return reply_from_json(zlib.decompress(blob).decode("utf-8"))


EMPTY_REPLY_BLOB = pack(EMPTY_REPLY)


class Encoder:
    """Encodes replies for the outbox; digests that share content share one Reply object,
    so each is encoded once. Holding the object keeps its id from being reused."""

    def __init__(self, limit: int = 2_000) -> None:
        self._limit = limit
        self._done: dict[int, tuple[Reply, bytes]] = {}

    def __call__(self, reply: Reply) -> bytes:
        found = self._done.get(id(reply))
        if found is not None:
            return found[1]
        if len(self._done) >= self._limit:
            self._done.clear()
        packed = pack(reply)
        self._done[id(reply)] = (reply, packed)
        return packed


class Decoder:
    """Digests planned together often share their text: each distinct one is parsed once."""

    def __init__(self, limit: int = 2_000) -> None:
        self._limit = limit
        self._done: dict[bytes, Reply] = {}

    def __call__(self, blob: bytes) -> Reply:
        found = self._done.get(blob)
        if found is None:
            if len(self._done) >= self._limit:
                self._done.clear()
            found = self._done[blob] = unpack(blob)
        return found
