"""Template workers as processes: they hold their own CPU limit and never outlive the bot,
and they are shared fairly between chats."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.templates.limits import (
    SandboxClosed,
    TemplateBusy,
    TemplateOutOfTime,
    TemplateRejected,
    TemplateTimeout,
)
from bot.templates.sandbox import TemplateSandbox

LOOPING = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"

BOT_SCRIPT = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from bot.templates.sandbox import TemplateSandbox

async def main(kernel_watch):
    box = TemplateSandbox(workers=2, timeout=600, cpu_limit=600, kernel_watch=kernel_watch)
    await box.start()
    busy = [asyncio.create_task(box.render(sys.argv[3], {})) for _ in range(2)]
    await asyncio.sleep(0.3)
    print(*box.worker_pids(), flush=True)
    await asyncio.gather(*busy)

asyncio.run(main(sys.argv[2] == "1"))
"""


def running(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def test_a_worker_stops_a_render_past_its_cpu_time_itself() -> None:
    # The bot's own limit (60 s) is far away: only the worker's CPU limit (1 s) can stop it.
    box = TemplateSandbox(workers=1, timeout=60, cpu_limit=1)
    try:
        with pytest.raises(TemplateRejected) as caught:
            await asyncio.wait_for(box.render(LOOPING, {}), 20)
        assert not isinstance(caught.value, TemplateTimeout)
        assert await box.render("{{ 2 + 2 }}", {}) == "4"  # and a fresh worker takes over
    finally:
        await box.close()


@pytest.mark.parametrize("kernel_watch", [True, False], ids=["prctl", "portable"])
async def test_busy_workers_end_when_the_bot_is_killed(
    tmp_path: Path, repo_root: Path, kernel_watch: bool
) -> None:
    script = tmp_path / "bot_with_workers.py"
    script.write_text(BOT_SCRIPT)
    bot = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(repo_root), "1" if kernel_watch else "0", LOOPING,
        stdout=asyncio.subprocess.PIPE,
    )
    pids: list[int] = []
    try:
        assert bot.stdout is not None
        pids = [int(p) for p in (await asyncio.wait_for(bot.stdout.readline(), 30)).split()]
        assert len(pids) == 2 and all(running(pid) for pid in pids)
        bot.kill()
        await bot.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while any(running(pid) for pid in pids) and loop.time() < deadline:
            await asyncio.sleep(0.1)
        assert not [pid for pid in pids if running(pid)], "workers outlived the bot"
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


# -- sharing the workers between chats ---------------------------------------------------------

# About 0.3 s of a worker's time (more on a busy machine); ``n`` scales it.
QUICK_SOURCE = "Hello {{ who }}"
SLOW = "{% for i in range(n) %}{% for j in range(1000) %}{% endfor %}{% endfor %}{{ who }}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_hammering_chat_delays_another_by_one_render_at_most() -> None:
    box = TemplateSandbox(workers=1)
    finished: list[str] = []

    async def render(chat: str, label: str) -> None:
        await box.render(SLOW, {"n": 6000, "who": label}, chat=chat)
        finished.append(label)

    try:
        await box.start()
        first = asyncio.create_task(render("A", "A1"))
        second = asyncio.create_task(render("A", "A2"))
        await asyncio.sleep(0)  # both of A's renders are in: one rendering, one waiting
        with pytest.raises(TemplateBusy, match="already has 2 templates rendering"):
            await box.render(SLOW, {"n": 1, "who": "A3"}, chat="A")
        other = asyncio.create_task(render("B", "B1"))
        await asyncio.gather(first, second, other)
        # B asked last, but waited for A's render under way only, not for A's queue.
        assert finished == ["A1", "B1", "A2"]
    finally:
        await box.close()


async def test_a_chat_past_its_share_is_told_to_wait_and_others_are_not() -> None:
    clock = FakeClock()
    # A share far below what the first render takes, however fast the machine is.
    box = TemplateSandbox(workers=1, chat_seconds=0.02, budget_window=60, clock=clock)
    try:
        assert await box.render(SLOW, {"n": 6000, "who": "A"}, chat="A") == "A"
        with pytest.raises(TemplateBusy) as caught:
            await box.render(SLOW, {"n": 1, "who": "A"}, chat="A")
        said = str(caught.value)
        assert "used their share" in said and "0.02 seconds of work every 60 seconds" in said
        wait = int(said.split("try again in ")[1].split()[0])
        assert 1 <= wait <= 60 * 200  # a render of at most 4 s overdraws by 200 windows at most
        assert await box.render(SLOW, {"n": 1, "who": "B"}, chat="B") == "B"
        clock.now += wait
        assert await box.render(SLOW, {"n": 1, "who": "A"}, chat="A") == "A"
    finally:
        await box.close()


async def test_a_long_batch_takes_turns_with_a_chat() -> None:
    box = TemplateSandbox(workers=1)
    try:
        await box.start()
        batch = asyncio.create_task(
            box.render_many(SLOW, [{"n": 3000, "who": str(i)} for i in range(40)])
        )
        await asyncio.sleep(0.05)  # the batch has the only worker
        assert await box.render("{{ 1 + 1 }}", {}, chat="B") == "2"
        assert not batch.done()  # B got its turn in the middle of the batch
        assert await batch == [str(i) for i in range(40)]
    finally:
        await box.close()


async def test_a_render_given_up_while_waiting_keeps_neither_worker_nor_place() -> None:
    box = TemplateSandbox(workers=1)
    try:
        await box.start()
        # A's render takes several tenths of a second on any machine: B is still waiting
        # for the one worker when it gives up.
        busy = asyncio.create_task(box.render(SLOW, {"n": 12000, "who": "A"}, chat="A"))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(box.render(QUICK_SOURCE, {"who": "B"}, chat="B"))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        waiting.cancel()
        assert await busy == "A"
        # B's place is free again (it may ask twice more), and the worker serves others.
        assert await box.render(QUICK_SOURCE, {"who": "B"}, chat="B") == "Hello B"
        assert await box.render(QUICK_SOURCE, {"who": "C"}, chat="C") == "Hello C"
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        await box.close()


async def test_a_render_past_the_deadline_is_not_started() -> None:
    clock = FakeClock()
    box = TemplateSandbox(workers=1, clock=clock)
    try:
        contexts = [{"n": 1, "who": str(i)} for i in range(3)]
        assert await box.render_many(SLOW, contexts, deadline=clock.now + 1) == ["0", "1", "2"]
        with pytest.raises(TemplateOutOfTime) as caught:
            await box.render_many(SLOW, contexts, deadline=clock.now)
        assert caught.value.outputs == [None, None, None]
    finally:
        await box.close()


async def test_closing_fails_queued_renders_at_once() -> None:
    box = TemplateSandbox(workers=1)
    await box.start()
    renders = [
        asyncio.create_task(box.render(LOOPING, {}, chat=chat)) for chat in ("A", "B", "C")
    ]
    await asyncio.sleep(0.05)  # A is rendering, B and C are waiting for the worker
    await box.close()
    results = await asyncio.gather(*renders, return_exceptions=True)
    assert all(isinstance(r, SandboxClosed) for r in results), results
    assert "stopping" in str(results[0])


async def test_sigterm_answers_queued_briefings_at_once_instead_of_rendering_them(
    repo_root: Path, tmp_path: Path
) -> None:
    from adapters.storage.sqlite import SqliteStore
    from tests.telegram_standin import FakeBotAPI, StandinServer, text_message
    from tests.test_serve import serve_telegram

    chats = [{"id": 500 + i, "type": "private", "first_name": f"P{i}"} for i in range(4)]
    store = await SqliteStore.open(tmp_path / "bot.db")
    for chat in chats:
        await store.save_template(
            f"telegram:{chat['id']}", "slow", LOOPING, "P", datetime(2024, 3, 1, tzinfo=UTC)
        )
    await store.close()
    api = FakeBotAPI()
    async with StandinServer(api) as server:
        process = await serve_telegram(repo_root, tmp_path, server.base_url)
        try:
            for chat in chats:  # 8 renders of 2 s each for 2 workers: 8 s of queue
                for _ in range(2):
                    sender = {"id": chat["id"], "is_bot": False, "first_name": "P"}
                    api.push_update(text_message("/briefing slow", chat=chat, sender=sender))
            await api.wait_until(lambda: any("longer than 2 seconds" in t for t in api.texts()), 60)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    replies = [t for chat in chats for t in api.texts(chat["id"])]
    stopping = [t for t in replies if "The bot is stopping" in t]
    assert stopping, replies
    assert len([t for t in replies if "longer than 2 seconds" in t]) < 8
