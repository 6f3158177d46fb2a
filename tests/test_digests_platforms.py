"""``inquiry-bot digests`` delivers to Telegram and Discord as ``serve`` does: through the
same senders, built in one place, with the same digests (each chat's own template too)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.cli import build_parser
from adapters.storage.sqlite import SqliteStore
from bot.digests.schedule import daily
from bot.messages import ChatKind, ChatRef
from tests.discord_fakes import CHANNEL_ID, DiscordRecorder
from tests.telegram_standin import TOKEN, FakeBotAPI, StandinServer

DUE = "2024-05-14T08:00+01:00"
SUBSCRIBED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TELEGRAM_CHAT = ChatRef("telegram", "424242", ChatKind.PRIVATE, "Reader")
DISCORD_CHAT = ChatRef("discord", str(CHANNEL_ID), ChatKind.GROUP, "Inquiry Watchers #general")
CONSOLE_CHAT = ChatRef("console", "alice")
PLATFORM_VARIABLES = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "DISCORD_BOT_TOKEN")


async def subscribe(
    db: Path, *chats: ChatRef, at: datetime = SUBSCRIBED, hhmm: str = "08:00"
) -> None:
    hour, minute = (int(part) for part in hhmm.split(":"))
    async with await SqliteStore.open(db) as store:
        for chat in chats:
            await store.subscribe(chat, daily(hour, minute), "Europe/London", at)


async def digests(*argv: str) -> int:
    """``inquiry-bot digests ARGV`` in this process, so the fakes installed here answer it."""
    args = build_parser().parse_args(["digests", "--no-cache", *argv])
    status: int = await args.func(args)
    return status


@pytest.fixture
def platform_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # as serve sets it
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


async def test_a_due_telegram_digest_is_delivered_by_digests(
    tmp_path: Path, platform_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bot.db"
    await subscribe(db, TELEGRAM_CHAT, DISCORD_CHAT)
    api = FakeBotAPI()
    async with StandinServer(api) as server:
        platform_env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        platform_env.setenv("TELEGRAM_API_BASE_URL", server.base_url)
        assert await digests("--at", DUE, "--db", str(db)) == 0
    sent = api.texts(TELEGRAM_CHAT.id)
    assert len(sent) == 1 and "Finding 1 of 8" in sent[0]
    # Opened to send only: no updates taken, no command menu published.
    assert not api.calls_to("getUpdates") and not api.calls_to("setMyCommands")
    err = capsys.readouterr().err
    assert "skipped discord: DISCORD_BOT_TOKEN is not set" in err
    assert "1 digest: 1 delivered" in err
    assert TOKEN.split(":")[1] not in err


async def test_a_due_discord_digest_is_delivered_by_digests(
    tmp_path: Path,
    platform_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder = DiscordRecorder()
    recorder.install(platform_env)
    db = tmp_path / "bot.db"
    await subscribe(db, TELEGRAM_CHAT, DISCORD_CHAT)
    platform_env.setenv("DISCORD_BOT_TOKEN", "test-token")
    assert await digests("--at", DUE, "--db", str(db)) == 0
    assert not recorder.unexpected, recorder.unexpected
    posts = recorder.requests_to("POST", "/channels/{channel_id}/messages")
    assert posts and all(f"/channels/{CHANNEL_ID}/" in p.url for p in posts)
    assert "Finding 1 of 8" in posts[0].content
    # Signed in over REST only: slash commands are not synced on every cron run.
    assert not recorder.requests_to("PUT", "/applications/{application_id}/commands")
    err = capsys.readouterr().err
    assert "skipped telegram: TELEGRAM_BOT_TOKEN is not set" in err
    assert "1 digest: 1 delivered" in err


async def test_a_platform_that_cannot_be_reached_is_skipped_with_the_reason(
    tmp_path: Path, platform_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bot.db"
    await subscribe(db, TELEGRAM_CHAT, CONSOLE_CHAT)
    api = FakeBotAPI()
    async with StandinServer(api) as server:
        base_url = server.base_url
    # The stand-in has stopped: nothing listens there any more.
    platform_env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    platform_env.setenv("TELEGRAM_API_BASE_URL", base_url)
    assert await digests("--at", DUE, "--db", str(db)) == 1
    captured = capsys.readouterr()
    assert "=== Digest for console chat alice ===" in captured.out  # the others still get theirs
    assert "skipped telegram: could not reach Telegram" in captured.err
    assert TOKEN.split(":")[1] not in captured.err
    # Its digest was not planned, so a run that reaches Telegram still sends it.
    async with StandinServer(api) as server:
        platform_env.setenv("TELEGRAM_API_BASE_URL", server.base_url)
        assert await digests("--at", "2024-05-14T08:05+01:00", "--db", str(db)) == 0
    assert len(api.texts(TELEGRAM_CHAT.id)) == 1


async def test_without_tokens_only_platforms_with_subscribers_are_mentioned(
    tmp_path: Path, platform_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bot.db"
    await subscribe(db, CONSOLE_CHAT, DISCORD_CHAT)
    assert await digests("--at", DUE, "--db", str(db)) == 0
    err = capsys.readouterr().err
    assert "skipped discord: DISCORD_BOT_TOKEN is not set (1 subscribed chat waits" in err
    assert "telegram" not in err


# -- serve and digests, side by side --------------------------------------------------------

CUSTOM = (
    "<b>Our own digest</b> {% for f in findings[:2] %}{{ f.number }}. {{ f.title }} {% endfor %}"
)


async def run_cli(repo_root: Path, env: dict[str, str], *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        *argv,
        cwd=repo_root,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_and_digests_deliver_the_same_digests_to_the_same_chats(
    repo_root: Path, tmp_path: Path
) -> None:
    """If the wiring of ``serve`` and ``digests`` drifted apart (other senders, platforms, or
    digest templates), the two would not send the same thing."""
    now = datetime.now(UTC)
    local = (now - timedelta(hours=1)).astimezone(ZoneInfo("Europe/London"))
    db = tmp_path / "serve.db"
    await subscribe(
        db, TELEGRAM_CHAT, CONSOLE_CHAT, at=now - timedelta(hours=3), hhmm=f"{local:%H:%M}"
    )
    async with await SqliteStore.open(db) as store:
        await store.save_template(TELEGRAM_CHAT.key, "ours", CUSTOM, "Ann", now)
        await store.set_digest_template(TELEGRAM_CHAT.key, "ours")
    shutil.copy(db, tmp_path / "digests.db")

    api = FakeBotAPI()
    async with StandinServer(api) as server:
        env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=server.base_url,
            INQUIRY_BOT_CACHE=str(tmp_path / "cache"),
        )
        serving = await run_cli(repo_root, env, "serve", "--db", str(db))
        try:
            await api.wait_until(lambda: bool(api.texts(TELEGRAM_CHAT.id)), 60)
        finally:
            serving.send_signal(signal.SIGTERM)
            _, serve_err = await asyncio.wait_for(serving.communicate(), 60)
        assert serving.returncode == 0, serve_err.decode()[-2000:]
        from_serve = api.texts(TELEGRAM_CHAT.id)
        api.calls.clear()

        passing = await run_cli(repo_root, env, "digests", "--db", str(tmp_path / "digests.db"))
        out, err = await asyncio.wait_for(passing.communicate(), 60)
        assert passing.returncode == 0, err.decode()
        from_digests = api.texts(TELEGRAM_CHAT.id)

    assert len(from_serve) == 1 and "Our own digest" in from_serve[0]
    assert from_digests == from_serve
    # serve has no console, so the console chat is digests' alone; it is not lost to serve.
    assert "=== Digest for console chat alice ===" in out.decode()
