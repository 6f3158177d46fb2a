"""``inquiry-bot serve`` as an operator meets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
