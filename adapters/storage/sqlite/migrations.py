"""The SQLite schema: numbered migrations, applied in order by ``PRAGMA user_version``."""

from __future__ import annotations

from adapters.storage.common import Migration

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
