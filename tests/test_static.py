"""The shape of the code: lint clean, typed, and the core free of platform libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(repo_root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=repo_root,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff_is_clean(repo_root: Path) -> None:
    done = run(repo_root, "ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_core_may_not_import_platform_or_storage_libraries(repo_root: Path) -> None:
    for module in ("telegram", "telegram.ext", "discord", "aiosqlite"):
        probe = f"import {module}\n"
        done = run(repo_root, "ruff", "check", "--stdin-filename", "bot/probe.py", "-", stdin=probe)
        assert done.returncode == 1 and "TID251" in done.stdout, (module, done.stdout)
        allowed = run(
            repo_root, "ruff", "check", "--stdin-filename", "adapters/probe.py", "-", stdin=probe
        )
        assert "TID251" not in allowed.stdout, module


def test_core_and_adapters_are_strictly_typed(repo_root: Path) -> None:
    done = run(repo_root, "mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_package_is_in_the_distribution(repo_root: Path) -> None:
    """A package missing from pyproject's list is missing from an installed bot."""
    import tomllib

    settings = tomllib.loads((repo_root / "pyproject.toml").read_text())
    listed = set(settings["tool"]["setuptools"]["packages"])
    for top in ("bot", "adapters"):
        for init in (repo_root / top).rglob("__init__.py"):
            package = ".".join(init.parent.relative_to(repo_root).parts)
            assert package in listed, f"{package} is not in pyproject.toml's packages"
