"""The console chat as a user and a script meet it: a real process, stdin in, stdout out."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from adapters.console import ConsoleChat
from bot.core import BriefingBot


def run_cli(repo_root: Path, tmp_path: Path, *args: str, stdin: str = "") -> str:
    env = dict(
        os.environ,
        INQUIRY_BOT_CACHE=str(tmp_path / "cache"),
        INQUIRY_BOT_DB=str(tmp_path / "bot.db"),
    )
    env.pop("INQUIRY_BOT_CORPUS", None)
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        cwd=repo_root,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_scripted_json_session(repo_root: Path, tmp_path: Path) -> None:
    script = "/findings\n/recommendation 10\nwhat did the report say about vetting?\n"
    lines = run_cli(repo_root, tmp_path, "chat", "--json", stdin=script).splitlines()
    answers = [json.loads(line) for line in lines]
    assert [a["message"] for a in answers] == script.splitlines()
    findings, rec, question = answers
    assert len(findings["items"]) == 8 and findings["results"] == []
    assert findings["items"][0] == {
        "kind": "finding",
        "number": 1,
        "title": "There are systemic and fundamental problems in how the Met is run",
        "text": findings["items"][0]["text"],
    }
    assert [i["number"] for i in rec["items"]] == [10]
    assert rec["items"][0]["kind"] == "recommendation"
    assert question["items"] == [] and question["results"]
    first = question["results"][0]
    assert set(first) >= {"document", "source", "text", "score"}
    assert isinstance(first["score"], float) and first["score"] > 0


def test_plain_script_answers_each_line(repo_root: Path, tmp_path: Path) -> None:
    out = run_cli(repo_root, tmp_path, "chat", stdin="/finding 2\n/more\n")
    assert "Finding 2 of 8: The Met has not managed the integrity of its own police service" in out
    assert "nothing more to show" in out


def test_ask_answers_one_message(repo_root: Path, tmp_path: Path) -> None:
    out = run_cli(repo_root, tmp_path, "ask", "/rec", "3")
    assert "Recommendation 3 of 16" in out and "Vetting standards" in out


def test_another_corpus_folder_is_served(repo_root: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "harbour-inquiry-notes.txt").write_text(
        "The harbour inquiry heard that the lighthouse keeper warned the council twice.\n"
    )
    out = run_cli(repo_root, tmp_path, "ask", "--corpus", str(corpus), "lighthouse keeper")
    assert "lighthouse keeper" in out and "harbour inquiry notes" in out.lower()
    assert "no numbered findings" in run_cli(
        repo_root, tmp_path, "ask", "--corpus", str(corpus), "/findings"
    )


def test_missing_corpus_folder_is_a_clear_error(repo_root: Path, tmp_path: Path) -> None:
    env = dict(
        os.environ,
        INQUIRY_BOT_CACHE=str(tmp_path / "cache"),
        INQUIRY_BOT_DB=str(tmp_path / "bot.db"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "ask", "--corpus", str(tmp_path / "nope"), "hi"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "nope" in done.stderr and "Traceback" not in done.stderr


async def test_console_shows_buttons_as_commands(bot: BriefingBot) -> None:
    console = ConsoleChat(bot)
    text = await console.exchange("/finding 1")
    assert "[Finding 2 ▶: /finding 2]" in text


async def test_backslash_continues_a_message_over_lines(bot: BriefingBot) -> None:
    console = ConsoleChat(bot, json_mode=True)
    out = io.StringIO()
    await console.run_script(io.StringIO("/rec \\\n4\n"), out)
    (answer,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert answer["message"] == "/rec \n4" and answer["items"][0]["number"] == 4


def test_console_chats_share_one_database_but_not_settings(
    repo_root: Path, tmp_path: Path
) -> None:
    run_cli(repo_root, tmp_path, "ask", "--chat", "alice", "/subscribe", "weekly", "mon", "09:00")
    assert "Weekly on Monday at 09:00" in run_cli(
        repo_root, tmp_path, "ask", "--chat", "alice", "/subscriptions"
    )
    assert "Weekly" not in run_cli(repo_root, tmp_path, "ask", "--chat", "bob", "/subscriptions")
    out = run_cli(repo_root, tmp_path, "digests", "--at", "2030-01-07T09:00+00:00", "--json")
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["chat"] == "alice" and record["status"] == "delivered"
    assert "Finding 1 of 8" in record["reply"]
