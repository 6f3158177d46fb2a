"""What an operator sees when the database is unusable: one clear line and a non-zero exit,
from every command, never a traceback or a stray thread's "Event loop is closed"."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.cli import failure_message, main
from adapters.storage.sqlite import SqliteStore
from bot.digests.schedule import daily
from bot.errors import ConfigError
from bot.messages import ChatRef

SUBSCRIBED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DUE = "2024-05-14T08:00+01:00"


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Exceptions raised in any thread while the test runs (after its threads are joined)."""
    seen: list[str] = []

    def record(args: threading.ExceptHookArgs) -> None:
        seen.append(f"{args.exc_type.__name__}: {args.exc_value}")

    monkeypatch.setattr(threading, "excepthook", record)
    yield seen


def join_other_threads() -> None:
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout=10)


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO("/findings\n"))
    status = main(argv)
    join_other_threads()
    out, err = capsys.readouterr()
    return status, out, err


def commands(tmp_path: Path) -> list[list[str]]:
    document = tmp_path / "note.txt"
    document.write_text("A short note about vetting in the Met.\n", encoding="utf-8")
    return [
        ["digests", "--at", DUE],
        ["digests", "--at", DUE, "--json"],
        ["ask", "/findings"],
        ["chat"],
        ["ingest", str(document)],
    ]


def test_a_folder_given_as_the_database_gets_one_clear_line_from_every_command(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    thread_errors: list[str],
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for argv in commands(tmp_path):
        for _ in range(5):  # the stray thread's message came on some runs only
            status, out, err = run([*argv, "--no-cache", "--db", str(folder)], capsys, monkeypatch)
            assert status == 2, argv
            assert err.splitlines() == [
                f"inquiry-bot: The database {folder} is a folder; give a file instead, such "
                f"as {folder / 'bot.db'} (--db PATH or $INQUIRY_BOT_DB)."
            ], argv
            assert out == ""
    assert thread_errors == []


def test_a_database_file_sqlite_cannot_open_gets_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    thread_errors: list[str],
) -> None:
    path = tmp_path / "bot.db"
    path.symlink_to(tmp_path / "missing" / "bot.db")  # into a folder that does not exist
    for argv in commands(tmp_path):
        for _ in range(5):
            status, out, err = run([*argv, "--no-cache", "--db", str(path)], capsys, monkeypatch)
            assert status == 2, argv
            assert err.splitlines() == [
                f"inquiry-bot: Cannot open the database {path}: unable to open database file"
            ], argv
    assert thread_errors == []


@pytest.mark.parametrize("kind", ["pipe", "device"])
def test_a_database_path_that_is_no_regular_file_gets_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    if kind == "pipe":
        path = tmp_path / "bot.db"
        os.mkfifo(path)
    else:
        path = Path(os.devnull)
    status, out, err = run(["digests", "--at", DUE, "--db", str(path)], capsys, monkeypatch)
    assert status == 2
    assert err.splitlines() == [
        f"inquiry-bot: The database {path} is not a regular file; give the path of a file "
        "(--db PATH or $INQUIRY_BOT_DB)."
    ]


def serve_with_database(path: Path, repo_root: Path) -> subprocess.CompletedProcess[str]:
    """``serve`` with a Telegram token (never used: the database fails first)."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_BOT_TOKEN"}
    env.update(TELEGRAM_BOT_TOKEN="123:not-used", INQUIRY_BOT_DB=str(path))
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "serve", "--no-cache"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_with_a_folder_as_the_database_says_so_in_one_line(
    repo_root: Path, tmp_path: Path
) -> None:
    done = serve_with_database(tmp_path, repo_root)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"inquiry-bot: The database {tmp_path} is a folder; give a file instead, such as "
        f"{tmp_path / 'bot.db'} (--db PATH or $INQUIRY_BOT_DB)."
    ]


async def make_database(path: Path, chats: int) -> None:
    async with await SqliteStore.open(path) as store:
        for i in range(chats):
            await store.subscribe(
                ChatRef("console", f"chat-{i:04d}"), daily(8, 0), "Europe/London", SUBSCRIBED
            )


def damage_table(path: Path, table: str) -> None:
    """Overwrite the first page of ``table``'s b-tree with bytes that are no page at all."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)


DAMAGED = "inquiry-bot: The database {path} is damaged (database disk image is malformed)."


def test_a_damaged_page_stops_digests_with_one_line_and_a_non_zero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.db"
    asyncio.run(make_database(path, 300))
    damage_table(path, "subscriptions")
    for argv in (["digests", "--at", DUE], ["digests", "--at", DUE, "--json"]):
        status, out, err = run([*argv, "--no-cache", "--db", str(path)], capsys, monkeypatch)
        assert status == 2
        assert len(err.splitlines()) == 1, err
        assert err.startswith(DAMAGED.format(path=path))
        assert "restore the file from a backup" in err
    # The chat side answers with an apology, as it does for any failure inside the bot.
    status, out, err = run(
        ["ask", "/subscriptions", "--chat", "chat-0001", "--no-cache", "--db", str(path)],
        capsys,
        monkeypatch,
    )
    assert status == 0 and "Sorry" in out


def test_a_damaged_page_read_at_start_stops_every_command_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.db"
    asyncio.run(make_database(path, 300))
    added = tmp_path / "added.txt"
    added.write_text("An added report on misconduct hearings.\n", encoding="utf-8")
    assert run(["ingest", str(added), "--no-cache", "--db", str(path)], capsys, monkeypatch)[0] == 0
    damage_table(path, "documents")  # every command reads the added documents at start
    for argv in commands(tmp_path):
        status, out, err = run([*argv, "--no-cache", "--db", str(path)], capsys, monkeypatch)
        assert status == 2, argv
        assert len(err.splitlines()) == 1 and err.startswith(DAMAGED.format(path=path)), err
    serving = serve_with_database(path, Path(__file__).resolve().parent.parent)
    assert serving.returncode == 2
    assert len(serving.stderr.splitlines()) == 1, serving.stderr
    assert serving.stderr.startswith(DAMAGED.format(path=path))


def test_failures_from_concurrent_sends_are_one_line_only_if_all_are_the_operators() -> None:
    path = Path("/var/lib/bot.db")
    corrupt = sqlite3.DatabaseError("database disk image is malformed")
    corrupt.sqlite_errorname = "SQLITE_CORRUPT"  # type: ignore[attr-defined]
    group = ExceptionGroup("sends", [corrupt, sqlite3.OperationalError("database is locked")])
    message = failure_message(group, path)
    assert message is not None and message.startswith(f"The database {path} is damaged")
    assert failure_message(ConfigError("bad setting"), path) == "bad setting"
    assert failure_message(ExceptionGroup("sends", [corrupt, KeyError("bug")]), path) is None
    assert failure_message(ValueError("bug"), path) is None
