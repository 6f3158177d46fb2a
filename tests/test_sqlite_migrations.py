"""The SQLite file over time: older files are upgraded, failures change nothing, newer files
are refused, and two processes can share one file."""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.storage.sqlite import MIGRATIONS, Migration, SqliteStore, default_db_path
from bot.digests.schedule import daily
from bot.errors import ConfigError
from bot.messages import ChatRef

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
CHAT = ChatRef("telegram", "-42")
LATEST = MIGRATIONS[-1].version


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


async def make_version_1(path: Path) -> None:
    """A database as version 1 of the code left it (written in SQL: today's code writes
    today's schema)."""
    async with await SqliteStore.open(path, migrations=MIGRATIONS[:1]):
        pass
    at = T0.isoformat()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO chats (chat_key, platform, chat_id, kind, timezone, created_at) "
            "VALUES (?, ?, ?, 'group', 'Europe/London', ?)",
            (CHAT.key, CHAT.platform, CHAT.id, at),
        )
        db.execute(
            "INSERT INTO subscriptions (id, chat_key, frequency, at_time, since, created_at) "
            "VALUES (7, ?, 'daily', '07:30', ?, ?)",
            (CHAT.key, at, at),
        )
        db.execute(
            "INSERT INTO alerts (chat_key, words, created_at) VALUES (?, 'vetting', ?)",
            (CHAT.key, at),
        )
        db.execute(
            "INSERT INTO outbox (subscription_id, scheduled, chat_key, platform, chat_id, "
            "reply, status, created_at, updated_at) VALUES (7, ?, ?, ?, ?, ?, 'queued', ?, ?)",
            (at, CHAT.key, CHAT.platform, CHAT.id, zlib.compress(b'{"lines":[]}'), at, at),
        )
        db.execute(
            "INSERT INTO documents (id, title, kind, added_at, text_hash, text) "
            "VALUES ('late-news', 'Late news', 'news', ?, 'abc', 'Some text.')",
            (at,),
        )


async def test_an_older_database_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await make_version_1(path)
    assert user_version(path) == 1 and "templates" not in tables(path)

    async with await SqliteStore.open(path) as store:
        assert await store.schema_version() == LATEST
        sub = await store.get_subscription(CHAT.key)
        assert sub is not None and sub.schedule == daily(7, 30)
        assert [a.words for a in await store.list_alerts(CHAT.key)] == ["vetting"]
        assert await store.save_template(CHAT.key, "mine", "src", "ann", T0) == 1


async def test_an_old_database_belongs_to_the_default_inquiry(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await make_version_1(path)

    async with await SqliteStore.open(path) as store:
        assert await store.adopt_unassigned("casey") == 3  # the chat, its digest, a document
        chat = await store.get_chat(CHAT.key)
        assert chat is not None and chat.inquiry == "casey"
        sub = await store.get_subscription(CHAT.key, "casey")
        assert sub is not None and sub.id == 7 and sub.schedule == daily(7, 30)
        [entry] = await store.list_outbox(CHAT.key)  # the queued digest survived the rebuild
        assert entry.subscription_id == 7
        [doc] = await store.list_documents()
        assert doc.inquiry == "casey"
        # The same chat can now follow a second inquiry with a digest of its own.
        other = await store.subscribe(CHAT, daily(9), "Europe/London", T0, inquiry="harbour")
        assert other.id != 7
        assert [s.inquiry for s in await store.list_subscriptions(CHAT.key)] == [
            "casey",
            "harbour",
        ]
        # Unsubscribing one inquiry leaves the other, and its queued digest, alone.
        assert await store.unsubscribe(CHAT.key, "harbour")
        assert len(await store.list_outbox(CHAT.key)) == 1
        assert await store.adopt_unassigned("casey") == 0
        # The outbox still refers to the subscriptions: its rows go with theirs.
        assert await store.unsubscribe(CHAT.key, "casey")
        assert await store.list_outbox(CHAT.key) == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert "subscriptions_v2" not in tables(path)


async def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await make_version_1(path)
    broken = Migration(
        LATEST + 1,
        "a migration with a mistake half way",
        ("CREATE TABLE half_done (x INTEGER)", "INSERT INTO no_such_table VALUES (1)"),
    )

    with pytest.raises(ConfigError, match=f"version {LATEST + 1}.*Nothing was changed"):
        await SqliteStore.open(path, migrations=(*MIGRATIONS, broken))

    # The good migrations before it stay; the broken one left no trace.
    assert user_version(path) == LATEST
    assert "half_done" not in tables(path)
    async with await SqliteStore.open(path) as store:
        sub = await store.get_subscription(CHAT.key)
        assert sub is not None and sub.schedule == daily(7, 30)


async def test_a_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await make_version_1(path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 5}")
    before = path.read_bytes()

    with pytest.raises(ConfigError) as caught:
        await SqliteStore.open(path)

    message = str(caught.value)
    assert f"version {LATEST + 5}" in message and "newer than this inquiry-bot" in message
    assert "Upgrade inquiry-bot" in message
    assert user_version(path) == LATEST + 5
    assert path.read_bytes() == before


async def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(ConfigError, match="notes.txt"):
        await SqliteStore.open(path)


async def test_a_new_file_gets_wal_and_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.db"
    async with await SqliteStore.open(path) as store:
        assert await store.schema_version() == LATEST
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_two_stores_on_one_file_both_write(tmp_path: Path) -> None:
    # As when cron runs `inquiry-bot digests` next to a running bot.
    path = tmp_path / "bot.db"
    async with await SqliteStore.open(path) as one, await SqliteStore.open(path) as two:
        await asyncio.gather(
            *(
                store.subscribe(ChatRef("console", f"{name}-{i}"), daily(), "UTC", T0)
                for i in range(40)
                for name, store in (("one", one), ("two", two))
            )
        )
        assert len(await one.active_subscriptions()) == 80
        assert len(await two.active_subscriptions()) == 80


async def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    async with await SqliteStore.open(path) as store:
        await store.subscribe(CHAT, daily(6, 15), "Asia/Tokyo", T0)
    async with await SqliteStore.open(path) as store:
        sub = await store.get_subscription(CHAT.key)
        assert sub is not None and (sub.schedule, sub.timezone) == (daily(6, 15), "Asia/Tokyo")


def test_default_location(tmp_path: Path) -> None:
    assert default_db_path({"INQUIRY_BOT_DB": "/srv/bot/bot.db"}) == Path("/srv/bot/bot.db")
    xdg = {"XDG_DATA_HOME": str(tmp_path)}
    assert default_db_path(xdg) == tmp_path / "inquiry-bot" / "bot.db"
    fallback = default_db_path({})
    assert fallback == Path.home() / ".local" / "share" / "inquiry-bot" / "bot.db"
