"""``inquiry-bot serve`` as an operator meets it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.telegram_standin import TOKEN


def test_serve_without_tokens_explains_how_to_get_one(repo_root: Path, tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN")
    }
    env["INQUIRY_BOT_DB"] = str(tmp_path / "bot.db")
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "serve"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "@BotFather" in done.stderr and "DISCORD_BOT_TOKEN" in done.stderr
    assert "inquiry-bot chat" in done.stderr


async def serve_telegram(
    repo_root: Path, tmp_path: Path, base_url: str, log_level: str = "WARNING"
) -> asyncio.subprocess.Process:
    """``inquiry-bot serve`` in a child process, on Telegram at ``base_url`` only."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_BOT_TOKEN"}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=base_url,
        INQUIRY_BOT_DB=str(tmp_path / "bot.db"),
        INQUIRY_BOT_CACHE=str(tmp_path / "cache"),
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "adapters.cli", "serve", "--log-level", log_level),
        cwd=repo_root,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_answers_on_telegram_and_stops_cleanly_on_sigterm(
    repo_root: Path, tmp_path: Path
) -> None:
    from tests.telegram_standin import FakeBotAPI, StandinServer, text_message

    api = FakeBotAPI()
    async with StandinServer(api) as server:
        process = await serve_telegram(repo_root, tmp_path, server.base_url, "DEBUG")
        try:
            api.push_update(text_message("/finding 3"))
            await api.wait_until(lambda: any("Finding 3 of 8" in t for t in api.texts()), 30)
            assert api.calls_to("setMyCommands"), "the command menu is registered at start"
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), 30)
    log = err.decode()
    assert process.returncode == 0, log[-2000:]
    assert "Serving on Telegram" in log and "Stopped." in log
    assert TOKEN.split(":")[1] not in log + out.decode()


async def test_serve_keeps_trying_an_unreachable_telegram_and_stops_on_sigterm(
    repo_root: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await serve_telegram(repo_root, tmp_path, f"http://127.0.0.1:{port}/bot")
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while not any("trying again" in line for line in lines):
            line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
            assert line, "serve exited: " + "".join(lines)
            lines.append(line)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    log = "".join(lines) + err.decode()
    assert process.returncode == 0, log
    [failure] = [line for line in lines if "could not reach Telegram" in line]
    assert "NetworkError" in failure and "trying again in 1 s" in failure
    assert "Traceback" not in log and "Stopped." in log
    assert TOKEN.split(":")[1] not in log + out.decode()


async def test_stopping_after_telegram_went_away_logs_no_error(
    repo_root: Path, tmp_path: Path
) -> None:
    from tests.telegram_standin import FakeBotAPI, StandinServer, text_message

    api = FakeBotAPI()
    server = StandinServer(api)
    await server.start()
    process = await serve_telegram(repo_root, tmp_path, server.base_url)
    try:
        api.push_update(text_message("/finding 3"))
        await api.wait_until(lambda: any("Finding 3 of 8" in t for t in api.texts()), 30)
        await server.stop()  # Telegram can no longer be reached
        await asyncio.sleep(1.5)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 60)
    log = err.decode()
    assert process.returncode == 0, log[-3000:]
    assert "Stopped." in log
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    assert "could not tell Telegram while stopping that the last updates were read" in log


async def test_a_second_long_poller_is_refused_and_health_and_metrics_answer(
    repo_root: Path, tmp_path: Path
) -> None:
    import asyncio
    import signal
    import socket

    import aiohttp

    from tests.telegram_standin import TOKEN, FakeBotAPI, StandinServer, text_message

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = FakeBotAPI()
    async with StandinServer(api) as server:
        env = {k: v for k, v in os.environ.items() if k != "DISCORD_BOT_TOKEN"}
        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=server.base_url,
            INQUIRY_BOT_DB=f"sqlite:///{tmp_path / 'bot.db'}",
            INQUIRY_BOT_CACHE=str(tmp_path / "cache"),
            INQUIRY_BOT_HTTP_PORT=str(port),
        )
        command = [sys.executable, "-m", "adapters.cli", "serve"]
        first = await asyncio.create_subprocess_exec(
            *command,
            "--no-scheduler",
            cwd=repo_root,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            api.push_update(text_message("/finding 3"))
            await api.wait_until(lambda: any("Finding 3 of 8" in t for t in api.texts()), 30)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    health = await response.json()
                    assert response.status == 200
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    metrics = await response.text()
            second = await asyncio.create_subprocess_exec(
                *command,
                cwd=repo_root,
                env={**env, "INQUIRY_BOT_HTTP_PORT": ""},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, refused = await asyncio.wait_for(second.communicate(), 60)
        finally:
            first.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(first.communicate(), 30)
    assert first.returncode == 0, err.decode()[-2000:]
    assert "answering only (--no-scheduler" in err.decode()
    assert health["status"] == "ok" and health["scheduler"] is False
    assert health["platforms"] == ["telegram"] and health["outbox_unfinished"] == 0
    assert 'inquiry_bot_replies_total{platform="telegram"} 1.0' in metrics
    assert "inquiry_bot_search_seconds_count" in metrics
    assert 'inquiry_bot_digests_total{status="delivered"} 0.0' in metrics
    assert second.returncode == 2
    message = refused.decode()
    assert "already long-polling Telegram" in message and "TELEGRAM_WEBHOOK_URL" in message
    assert TOKEN.split(":")[1] not in message


class StartingPlatform:
    """A platform whose start returns when told to (as one retrying a connection does)."""

    sender: object = None

    def __init__(self, fails: BaseException | None = None) -> None:
        self.may_start = asyncio.Event()
        self.fails = fails
        self.stopped = False

    async def start(self) -> None:
        await self.may_start.wait()
        if self.fails is not None:
            raise self.fails

    async def stop(self) -> None:
        self.stopped = True


async def test_a_platform_still_connecting_holds_up_no_other() -> None:
    from adapters.serve import _start_all  # noqa: PLC0415 - the one piece this test drives

    telegram, discord = StartingPlatform(), StartingPlatform()
    stop, started = asyncio.Event(), []  # type: ignore[var-annotated]
    starting = asyncio.create_task(
        _start_all({"telegram": telegram, "discord": discord}, stop, started)  # type: ignore[dict-item]
    )
    discord.may_start.set()  # Telegram is still unreachable
    for _ in range(20):
        await asyncio.sleep(0)
    assert started == [discord] and not starting.done()
    telegram.may_start.set()
    assert await starting is True and started == [discord, telegram]


async def test_stopping_while_one_is_connecting_and_a_refused_token_end_the_start() -> None:
    from adapters.serve import _start_all  # noqa: PLC0415

    waiting, ready = StartingPlatform(), StartingPlatform()
    ready.may_start.set()
    stop, started = asyncio.Event(), []  # type: ignore[var-annotated]
    starting = asyncio.create_task(_start_all({"a": waiting, "b": ready}, stop, started))  # type: ignore[dict-item]
    for _ in range(20):
        await asyncio.sleep(0)
    stop.set()
    assert await starting is False and started == [ready]

    refused = StartingPlatform(fails=RuntimeError("token refused"))
    refused.may_start.set()
    other = StartingPlatform()
    stop, started = asyncio.Event(), []
    with pytest.raises(RuntimeError, match="token refused"):
        await _start_all({"a": other, "b": refused}, stop, started)  # type: ignore[dict-item]
    assert started == []
