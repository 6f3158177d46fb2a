"""Inquiries from the command line: real processes over one database and a corpus folder
of three inquiries (the Casey seeds and two fictional ones)."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from adapters.app import Config, build_services
from adapters.cli_store import target_inquiry
from bot.errors import UserInputError
from tests.inquiry_fixtures import make_corpus


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def cli(
    repo_root: Path,
    tmp_path: Path,
    corpus: Path | None,
    *args: str,
    ok: bool = True,
    stdin: str = "",
    **env: str,
) -> subprocess.CompletedProcess[str]:
    environ = dict(
        os.environ,
        INQUIRY_BOT_CACHE=str(tmp_path / "cache"),
        INQUIRY_BOT_DB=str(tmp_path / "bot.db"),
        **env,
    )
    environ.pop("INQUIRY_BOT_CORPUS", None)
    if corpus is not None:
        environ["INQUIRY_BOT_CORPUS"] = str(corpus)
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        cwd=repo_root,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode == 0) == ok, done.stderr
    return done


def ask(repo_root: Path, tmp_path: Path, corpus: Path | None, chat: str, *words: str) -> str:
    return cli(repo_root, tmp_path, corpus, "ask", "--chat", chat, *words).stdout


def session(repo_root: Path, tmp_path: Path, corpus: Path | None, chat: str, *lines: str) -> str:
    """One console process answering several messages of one chat."""
    script = "".join(line + "\n" for line in lines)
    return cli(repo_root, tmp_path, corpus, "chat", "--chat", chat, stdin=script).stdout


def test_two_console_chats_follow_two_inquiries(
    repo_root: Path, tmp_path: Path, corpus_dir: Path
) -> None:
    listing = ask(repo_root, tmp_path, corpus_dir, "alice", "/inquiries")
    assert "casey (this chat's)" in listing and "harbourside:" in listing

    assert "now follows" in ask(repo_root, tmp_path, corpus_dir, "alice", "/inquiry", "north")
    alice = session(
        repo_root, tmp_path, corpus_dir, "alice", "/findings", "/recommendation 17", "/subscribe"
    )
    bob = session(repo_root, tmp_path, corpus_dir, "bob", "/findings", "/subscribe")
    assert "The scour of the river bed was never measured" in alice
    assert "consulted on the memorial" in alice
    assert "The report's 8 findings" in bob and "scour" not in bob

    digests = cli(
        repo_root, tmp_path, corpus_dir, "digests", "--at", "2030-01-07T08:00+00:00"
    ).stdout
    assert "Your briefing: The Northgate Bridge Inquiry" in digests
    assert "Your briefing: The Casey Review" in digests


def test_the_default_inquiry_is_configurable(
    repo_root: Path, tmp_path: Path, corpus_dir: Path
) -> None:
    env = {"INQUIRY_BOT_DEFAULT_INQUIRY": "harbourside"}
    start = cli(repo_root, tmp_path, corpus_dir, "ask", "/start", **env).stdout
    assert "This chat follows Harbourside Water Inquiry" in start
    wrong = cli(
        repo_root,
        tmp_path,
        corpus_dir,
        "ask",
        "/start",
        ok=False,
        INQUIRY_BOT_DEFAULT_INQUIRY="nowhere",
    )
    assert "'nowhere', which is not one of the inquiries: casey, harbourside" in wrong.stderr


def test_ingest_adds_to_one_inquiry_and_a_new_name_needs_new(
    repo_root: Path, tmp_path: Path, corpus_dir: Path
) -> None:
    doc = tmp_path / "harbour-update.txt"
    doc.write_text("The utility replaced the chlorine dosing pump at the reservoir in April.\n")
    added = cli(repo_root, tmp_path, corpus_dir, "ingest", str(doc), "--inquiry", "harbourside")
    assert "Added 1 document" in added.stdout
    alice = session(repo_root, tmp_path, corpus_dir, "alice", "/inquiry harbourside", "/sources")
    assert "harbour update" in alice.split("now follows")[1]

    other = tmp_path / "lighthouse.txt"
    other.write_text("The keepers of the Skerry lighthouse gave evidence about the lamp.\n")
    refused = cli(
        repo_root, tmp_path, corpus_dir, "ingest", str(other), "--inquiry", "skerry", ok=False
    )
    assert "There is no inquiry 'skerry'" in refused.stderr and "add --new" in refused.stderr
    cli(repo_root, tmp_path, corpus_dir, "ingest", str(other), "--inquiry", "skerry", "--new")
    bob = session(
        repo_root,
        tmp_path,
        corpus_dir,
        "bob",
        "/sources",
        "/inquiries",
        "/inquiry skerry",
        "lamp keepers",
    )
    before, after = bob.split("now follows")
    assert "harbour update" not in before and "skerry: skerry" in before
    assert "lighthouse" in after


def test_an_old_database_and_a_flat_corpus_keep_working(repo_root: Path, tmp_path: Path) -> None:
    """A database from before inquiries (schema 2) with a subscription, an alert and a queued
    digest, served from the flat built-in folder: nothing is lost."""
    cli(repo_root, tmp_path, None, "ask", "/start")  # creates today's schema
    db = tmp_path / "bot.db"
    db.unlink()
    _old_database(db)
    old = session(repo_root, tmp_path, None, "old", "/subscriptions", "/inquiry", "/findings")
    assert "Daily at 07:30" in old and "1. vetting" in old
    assert "This chat follows The Casey Review" in old
    assert "The report's 8 findings" in old
    digests = cli(repo_root, tmp_path, None, "digests", "--at", "2030-01-07T07:30+00:00").stdout
    assert "Finding 1 of 8" in digests
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 3
        assert conn.execute("SELECT inquiry FROM subscriptions").fetchall() == [("casey",)]


def _old_database(path: Path) -> None:
    at = "2024-03-01T09:00:00+00:00"
    with sqlite3.connect(path) as conn:
        conn.executescript(_SCHEMA_2)
        conn.execute(
            "INSERT INTO chats (chat_key, platform, chat_id, kind, timezone, created_at) "
            "VALUES ('console:old', 'console', 'old', 'private', 'Europe/London', ?)",
            (at,),
        )
        conn.execute(
            "INSERT INTO subscriptions (id, chat_key, frequency, at_time, since, created_at) "
            "VALUES (1, 'console:old', 'daily', '07:30', ?, ?)",
            (at, at),
        )
        conn.execute(
            "INSERT INTO alerts (chat_key, words, created_at) VALUES ('console:old', 'vetting', ?)",
            (at,),
        )
        conn.execute(
            "INSERT INTO outbox (subscription_id, scheduled, chat_key, platform, chat_id, reply, "
            "status, created_at, updated_at) VALUES (1, ?, 'console:old', 'console', 'old', ?, "
            "'delivered', ?, ?)",
            (at, zlib.compress(b'{"lines":[]}'), at, at),
        )
        conn.execute("PRAGMA user_version = 2")


# Schema version 2, as the code before inquiries made it.
_SCHEMA_2 = """
CREATE TABLE chats (chat_key TEXT PRIMARY KEY, platform TEXT NOT NULL, chat_id TEXT NOT NULL,
    kind TEXT NOT NULL, title TEXT, timezone TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    inactive_reason TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, chat_key TEXT NOT NULL UNIQUE
    REFERENCES chats(chat_key) ON DELETE CASCADE ON UPDATE CASCADE,
    frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
    weekday INTEGER CHECK (weekday BETWEEN 0 AND 6), at_time TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0, since TEXT NOT NULL,
    finding_cursor INTEGER NOT NULL DEFAULT 0, recommendation_cursor INTEGER NOT NULL DEFAULT 0,
    last_digest_at TEXT, created_at TEXT NOT NULL);
CREATE TABLE alerts (id INTEGER PRIMARY KEY, chat_key TEXT NOT NULL
    REFERENCES chats(chat_key) ON DELETE CASCADE ON UPDATE CASCADE,
    words TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX alerts_by_chat ON alerts(chat_key, id);
CREATE TABLE outbox (id INTEGER PRIMARY KEY, subscription_id INTEGER NOT NULL
    REFERENCES subscriptions(id) ON DELETE CASCADE, scheduled TEXT NOT NULL,
    chat_key TEXT NOT NULL REFERENCES chats(chat_key) ON DELETE CASCADE ON UPDATE CASCADE,
    platform TEXT NOT NULL, chat_id TEXT NOT NULL, reply BLOB NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT,
    reason TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (subscription_id, scheduled));
CREATE INDEX outbox_by_time ON outbox(scheduled);
CREATE INDEX outbox_by_chat ON outbox(chat_key);
CREATE INDEX outbox_unfinished ON outbox(id) WHERE status IN ('queued', 'sending', 'retry');
CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL, outlet TEXT, date TEXT,
    url TEXT, kind TEXT NOT NULL, added_at TEXT NOT NULL, text_hash TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL);
CREATE INDEX documents_by_time ON documents(added_at);
CREATE TABLE templates (chat_key TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    source TEXT NOT NULL, author TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (chat_key, name, version));
CREATE TABLE digest_templates (chat_key TEXT PRIMARY KEY, name TEXT NOT NULL);
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_new_inquiry_name_is_confirmed_on_a_terminal(corpus_dir: Path) -> None:
    services = build_services(Config(corpus_dir=corpus_dir, cache_dir=None, db_path=None))
    asked = Terminal()
    made = target_inquiry(services, "Skerry Light", False, Terminal("yes\n"), asked)
    assert made.name == "skerry-light" and made.corpus.documents == ()
    assert "There is no inquiry 'skerry-light' yet" in asked.getvalue()
    assert "Make it? [y/N]" in asked.getvalue()
    with pytest.raises(UserInputError, match="add --new"):
        target_inquiry(services, "skerry", False, Terminal("n\n"), Terminal())
    existing = target_inquiry(services, "Harbourside", False, Terminal(), Terminal())
    assert existing.name == "harbourside" and len(existing.corpus.documents) == 2
