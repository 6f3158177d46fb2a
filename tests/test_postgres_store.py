"""PostgreSQL as operators meet it: chosen by URL, migrated once by processes starting together,
a newer database refused, and `inquiry-bot db copy` moving a SQLite file over whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from adapters.app import Config
from adapters.cli import main
from adapters.storage.postgres import MIGRATIONS, Migration, PostgresStore
from adapters.storage.sqlite import SqliteStore
from adapters.storage.urls import open_store
from bot.digests.schedule import daily, weekly
from bot.errors import ConfigError
from bot.messages import ChatKind, ChatRef, Reply, Span
from bot.store import DocumentRecord, OutboxStatus, PlannedDigest, Settlement, text_hash
from tests.pg_server import PgServer, fresh_database

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
CHAT = ChatRef("telegram", "-42", ChatKind.GROUP, "Reading group")
LATEST = MIGRATIONS[-1].version


async def versions(url: str) -> list[int]:
    db = await asyncpg.connect(url)
    try:
        return [r[0] for r in await db.fetch("SELECT version FROM schema_version ORDER BY 1")]
    finally:
        await db.close()


async def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_url) for _ in range(4)))
    try:
        assert await versions(pg_url) == [m.version for m in MIGRATIONS]
        await stores[0].subscribe(CHAT, daily(7, 30), "Europe/London", T0)
        sub = await stores[3].get_subscription(CHAT.key)
        assert sub is not None and sub.schedule == daily(7, 30)
    finally:
        for store in stores:
            await store.close()


async def test_an_older_database_is_upgraded_and_keeps_its_data(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url, migrations=MIGRATIONS[:1]):
        pass
    db = await asyncpg.connect(pg_url)  # a chat and its digest as version 1's code wrote them
    try:
        await db.execute(
            """INSERT INTO chats (chat_key, platform, chat_id, kind, timezone, created_at)
               VALUES ($1, $2, $3, 'group', 'Europe/London', $4)""",
            CHAT.key, CHAT.platform, CHAT.id, T0,
        )  # fmt: skip
        await db.execute(
            """INSERT INTO subscriptions (chat_key, frequency, at_time, since, created_at)
               VALUES ($1, 'daily', '07:30', $2, $2)""",
            CHAT.key, T0,
        )  # fmt: skip
    finally:
        await db.close()
    async with await PostgresStore.open(pg_url) as store:
        assert await store.schema_version() == LATEST
        assert await store.save_template(CHAT.key, "mine", "src", "ann", T0) == 1
        # From before inquiries: the default inquiry's, once the bot says which that is.
        assert await store.adopt_unassigned("casey") == 2
        sub = await store.get_subscription(CHAT.key, "casey")
        assert sub is not None and sub.schedule == daily(7, 30)
        other = await store.subscribe(CHAT, weekly(0, 9), "Europe/London", T0, "harbour")
        assert [s.inquiry for s in await store.list_subscriptions(CHAT.key)] == [
            "casey",
            "harbour",
        ]
        assert other.id != sub.id


async def test_a_failed_migration_changes_nothing(pg_url: str) -> None:
    broken = Migration(
        LATEST + 1,
        "a migration with a mistake half way",
        ("CREATE TABLE half_done (x integer)", "INSERT INTO no_such_table VALUES (1)"),
    )
    with pytest.raises(ConfigError, match=f"version {LATEST + 1}.*Nothing was changed"):
        await PostgresStore.open(pg_url, migrations=(*MIGRATIONS, broken))
    assert await versions(pg_url) == [m.version for m in MIGRATIONS]
    db = await asyncpg.connect(pg_url)
    try:
        assert await db.fetchval("SELECT to_regclass('half_done')") is None
    finally:
        await db.close()


async def test_a_newer_database_is_refused_untouched(pg_url: str) -> None:
    async with await PostgresStore.open(pg_url):
        pass
    db = await asyncpg.connect(pg_url)
    try:
        await db.execute("INSERT INTO schema_version VALUES ($1)", LATEST + 5)
    finally:
        await db.close()
    with pytest.raises(ConfigError) as caught:
        await PostgresStore.open(pg_url)
    assert f"version {LATEST + 5}" in str(caught.value)
    assert "newer than this inquiry-bot" in str(caught.value)
    assert await versions(pg_url) == [*(m.version for m in MIGRATIONS), LATEST + 5]


async def test_subscribing_is_one_round_trip(pg_url: str) -> None:
    """A /subscribe costs the database one statement (it was six: BEGIN, three writes, a read
    back and COMMIT), whether it makes the chat or finds it deactivated."""
    sent: list[str] = []
    async with await PostgresStore.open(pg_url, pool_size=1) as store:
        async with store._pool.acquire() as db:
            reset = db.get_reset_query()
            db.add_query_logger(lambda record: sent.append(record.query))
        for step, at in enumerate((T0, T0 + timedelta(days=1))):
            sent.clear()
            sub = await store.subscribe(CHAT, weekly(step, 8, 0), "Europe/London", at)
            await asyncio.sleep(0)  # the logger is called soon after each statement
            assert len([q for q in sent if q != reset]) == 1, sent
            assert (sub.schedule, sub.since, sub.active) == (weekly(step, 8, 0), at, True)
            await store.deactivate_chat(CHAT.key, "bot removed")
        chat = await store.get_chat(CHAT.key)
        assert chat is not None and not chat.active
        again = await store.subscribe(CHAT, daily(), "Asia/Tokyo", T0)
        chat = await store.get_chat(CHAT.key)
        assert again.active and chat is not None
        assert (chat.active, chat.inactive_reason) == (True, "")
        assert chat.timezone == again.timezone == "Europe/London"


async def test_a_unix_socket_url_works(pg_server: PgServer) -> None:
    url = pg_server.socket_url()
    assert "host=/" in url and "127.0.0.1" not in url
    async with await open_store(url) as store:
        assert isinstance(store, PostgresStore)
        assert await store.schema_version() == LATEST


async def test_a_wrong_password_is_never_shown(pg_server: PgServer) -> None:
    url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{pg_server.port}/no_such_database"
    with pytest.raises(ConfigError) as caught:
        await PostgresStore.open(url)
    assert "s3cret-pw" not in str(caught.value)
    assert "no_such_database" in str(caught.value)


def test_the_database_setting_picks_the_store(tmp_path: Path) -> None:
    url = "postgresql://bot:pw@db.internal:5432/bot"
    assert Config.from_env({"INQUIRY_BOT_DB": url}).database == url
    assert Config.from_env({}, db="postgres://x@/y?host=/run/pg").database == (
        "postgres://x@/y?host=/run/pg"
    )
    assert Config.from_env({"INQUIRY_BOT_DB": "sqlite:////srv/bot.db"}).database == Path(
        "/srv/bot.db"
    )
    assert Config.from_env({}, db=str(tmp_path / "b.db")).database == tmp_path / "b.db"
    lease = Config.from_env({"INQUIRY_BOT_LEASE_SECONDS": "90"}).lease
    assert lease == timedelta(seconds=90)
    with pytest.raises(ConfigError, match="INQUIRY_BOT_LEASE_SECONDS"):
        Config.from_env({"INQUIRY_BOT_LEASE_SECONDS": "soon"})


# -- db copy ----------------------------------------------------------------------------------


async def fill(store: SqliteStore | PostgresStore) -> None:
    """One of everything a database holds, with digests queued, sent and retrying."""
    subs = []
    for i in range(5):
        ref = ChatRef("telegram", f"-{i}", ChatKind.GROUP, f"Group {i}")
        subs.append(await store.subscribe(ref, weekly(i, 8, 0), "Europe/London", T0))
        await store.add_alert(ref, f"vetting {i}", "Europe/London", T0)
    await store.deactivate_chat("telegram:-4", "bot was removed")
    await store.save_template("telegram:-1", "mine", "v1", "ann", T0)
    await store.save_template("telegram:-1", "mine", "v2", "bob", T0)
    await store.set_digest_template("telegram:-1", "mine")
    text = "The Met said every officer would be vetted again."
    await store.add_document(DocumentRecord("news-1", "News", T0, text_hash(text), text, "BBC"))
    await store.plan_digests(
        [
            PlannedDigest(
                s.id, T0, s.chat_key, s.platform, s.chat_id,
                Reply(lines=((Span(f"digest {s.id}", bold=True),),)), 2, 3, T0,
            )
            for s in subs
        ]
    )  # fmt: skip
    first, second = await store.claim_outbox(T0, "me", T0 + timedelta(minutes=5), limit=2)
    await store.settle_outbox(
        "me",
        [
            Settlement(first.id, OutboxStatus.DELIVERED),
            Settlement(second.id, OutboxStatus.RETRY, "network", T0 + timedelta(minutes=1)),
        ],
        T0,
    )


async def snapshot(store: SqliteStore | PostgresStore) -> dict[str, object]:
    chats = [await store.get_chat(f"telegram:-{i}") for i in range(5)]
    return {
        "chats": chats,
        "subs": [await store.get_subscription(f"telegram:-{i}") for i in range(5)],
        "alerts": await store.alerts_for_chats([f"telegram:-{i}" for i in range(5)]),
        "templates": await store.template_history("telegram:-1", "mine"),
        "digest_template": await store.get_digest_template("telegram:-1"),
        "documents": await store.list_documents(),
        "outbox": await store.list_outbox(),
    }


async def test_copy_moves_everything_and_ids_go_on_from_there(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bot.db"
    async with await SqliteStore.open(source) as old:
        await fill(old)
        before = await snapshot(old)

    status = await asyncio.to_thread(
        main, ["db", "copy", "--from", f"sqlite:///{source}", "--to", pg_url]
    )

    out = capsys.readouterr().out
    assert status == 0, out
    assert "outbox: 5 copied, 5 in the target" in out and "every count matches" in out
    async with await PostgresStore.open(pg_url) as new:
        assert await snapshot(new) == before
        # New rows get ids after the copied ones, and the copied digests are not planned again.
        extra = await new.subscribe(ChatRef("console", "new"), daily(), "UTC", T0)
        assert extra.id > max(s.id for s in before["subs"])  # type: ignore[attr-defined]
        assert len(await new.outbox_keys_since(T0)) == 5
        again = await new.claim_outbox(T0 + timedelta(minutes=2), "b", T0 + timedelta(hours=1))
        assert sorted(e.subscription_id for e in again) == sorted(
            e.subscription_id for e in before["outbox"][1:]  # type: ignore[index]
        )


async def test_copy_back_to_sqlite_is_the_same(tmp_path: Path, pg_url: str) -> None:
    async with await PostgresStore.open(pg_url) as pg:
        await fill(pg)
        before = await snapshot(pg)
    target = tmp_path / "back.db"
    status = await asyncio.to_thread(main, ["db", "copy", "--from", pg_url, "--to", str(target)])
    assert status == 0
    async with await SqliteStore.open(target) as back:
        assert await snapshot(back) == before


async def test_copy_refuses_a_target_with_anything_in_it(
    tmp_path: Path, pg_server: PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bot.db"
    async with await SqliteStore.open(source) as old:
        await fill(old)
    target = await fresh_database(pg_server)
    async with await PostgresStore.open(target) as new:
        await new.subscribe(ChatRef("console", "already"), daily(), "UTC", T0)

    status = await asyncio.to_thread(main, ["db", "copy", "--from", str(source), "--to", target])

    err = capsys.readouterr().err
    assert status == 2
    assert "is not empty (1 chats, 1 subscriptions)" in err
    async with await PostgresStore.open(target) as new:
        assert await new.table_counts() == {
            "chats": 1, "subscriptions": 1, "alerts": 0, "templates": 0,
            "digest_templates": 0, "documents": 0, "outbox": 0,
        }  # fmt: skip


# -- several processes ------------------------------------------------------------------------


def test_two_processes_at_once_send_each_digest_once(pg_url: str, repo_root: Path) -> None:
    import os
    import subprocess
    import sys
    from collections import Counter

    from adapters.console_delivery import HEADER

    chats, when = 3_000, "2024-05-14T07:00:00+00:00"
    runner = [sys.executable, str(repo_root / "tests" / "digest_runner.py")]
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    subprocess.run([*runner, "setup", pg_url, str(chats)], check=True, env=env, timeout=300)

    passes = [
        subprocess.Popen([*runner, "pass", pg_url, when, "8"], stdout=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0].decode() for p in passes]

    prefix, suffix = HEADER.split("{chat_id}")
    sent = Counter(
        line[len(prefix) : -len(suffix)]
        for output in outputs
        for line in output.splitlines()
        if line.startswith(prefix)
    )
    assert all(p.returncode == 0 for p in passes)
    assert len(sent) == chats and set(sent.values()) == {1}


async def test_copy_fails_when_the_counts_differ(tmp_path: Path) -> None:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from adapters.storage.copying import _copy
    from bot.errors import UserInputError

    class LosesAlerts(SqliteStore):
        async def import_table(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
            await super().import_table(table, rows[1:] if table == "alerts" else rows)

    async with await SqliteStore.open(tmp_path / "a.db") as source:
        await fill(source)
        target = await LosesAlerts.open(tmp_path / "b.db")
        try:
            with pytest.raises(UserInputError) as caught:
                await _copy(source, target, "b.db")
        finally:
            await target.close()
    assert "counts do not match" in str(caught.value)
    assert "alerts: 5 copied, 4 in the target" in str(caught.value)
