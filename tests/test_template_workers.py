"""Template workers as processes: they hold their own CPU limit and never outlive the bot,
and they are shared fairly between chats."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.templates.limits import TemplateRejected, TemplateTimeout
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
