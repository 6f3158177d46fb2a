"""The bot's handle on one sandbox worker process: starting it, talking to it, killing it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.templates.wire import HEADER, MAX_FRAME, WorkerGone

_STARTUP_TIMEOUT = 20.0
_WORKER_ENV = {"LC_ALL": "C.UTF-8"}  # nothing from the bot's environment


class WorkerProcess:
    """One worker process and its pipes; used by one request at a time."""

    def __init__(self, command: Sequence[str]) -> None:
        self._command = tuple(command)
        self._proc: asyncio.subprocess.Process | None = None
        self._start_lock = asyncio.Lock()
        self.shared_key: str | None = None
        self.starts = 0
        self.retired = False  # the sandbox closed: never start again

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def ensure_running(self) -> None:
        async with self._start_lock:
            if self.retired:
                raise RuntimeError("the template sandbox is closed")
            if self.alive:
                return
            await self._kill()
            self._proc = await asyncio.create_subprocess_exec(
                *self._command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=_WORKER_ENV,
                cwd="/",
                close_fds=True,
            )
            self.starts += 1
            try:
                hello = await asyncio.wait_for(self._read(), _STARTUP_TIMEOUT)
            except (WorkerGone, TimeoutError):
                hello = {}
            if hello.get("ready") is not True:
                await self._kill()
                raise RuntimeError("the template worker did not start")

    async def stop(self) -> None:
        """Kill the process and wait for it; a start under way finishes first."""
        async with self._start_lock:
            await self._kill()

    async def retire(self) -> None:
        self.retired = True
        await self.stop()

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self.shared_key = None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if proc.stdin is not None:
            proc.stdin.close()
        await proc.wait()

    async def send(self, message: Mapping[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise WorkerGone("no worker")
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            proc.stdin.write(HEADER.pack(len(body)) + body)
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError) as err:
            raise WorkerGone(str(err)) from None

    async def receive(self, timeout: float) -> dict[str, Any]:
        return await asyncio.wait_for(self._read(), timeout)

    async def _read(self) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise WorkerGone("no worker")
        try:
            (size,) = HEADER.unpack(await proc.stdout.readexactly(HEADER.size))
            if size > MAX_FRAME:
                raise WorkerGone(f"oversized reply ({size} bytes)")
            message = json.loads(await proc.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as err:
            raise WorkerGone(str(err)) from None
        if not isinstance(message, dict):
            raise WorkerGone("malformed reply")
        return message
