"""Moderators' templates, rendered in killable worker processes.

Anyone can create a group and be its admin, so a chat template is untrusted code. It is
held by several layers, each enough for a class of attack:

- Jinja2's ``ImmutableSandboxedEnvironment`` (jinja2 >= 3.1.6): no ``_``-prefixed attributes,
  no method that changes a list, dict or set, ``str.format`` sandboxed however it is reached
  (CVE-2024-56326, CVE-2025-27516). Autoescape is on, so values can never become markup.
- ``include``, ``import`` and ``extends`` are refused when the template is compiled: a chat
  template reaches no other template, neither another chat's nor a built-in one.
- Sizes are capped: the source (8,000 characters), bracket nesting (32 levels), the output
  (cut off at 16,000 characters, saying so), and the operations that build huge values in
  one step (``*`` repetition, ``**``, ``%`` and ``format`` widths, ``ljust`` and friends).
- Rendering (parsing and compiling included) happens in worker processes started from a fresh
  interpreter in isolated mode (``-I``) with an empty environment, so no token or setting is
  there to leak. Each worker limits its own address space (``RLIMIT_AS``, 256 MB) and may not
  write files or fork. A render that runs past 2 seconds is killed with SIGKILL, the worker is
  restarted, and the moderator is told why. Workers receive only the template source and plain
  JSON data, and send back only JSON: nothing is ever unpickled from them.

The worker half is :mod:`bot.templates.worker`; the limits and the checks made before a
template reaches a worker are in :mod:`bot.templates.limits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.messages import Line
from bot.templates.limits import (
    BATCH_SIZE,
    MAX_OUTPUT_CHARS,
    MEMORY_LIMIT,
    RENDER_TIMEOUT,
    WORKERS,
    TemplateRejected,
    TemplateTimeout,
    precheck,
)
from bot.templates.wire import HEADER, MAX_FRAME, LineDecoder, WorkerGone

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT = 20.0
_PASSED_CACHE = 256
_WORKER_ENV = {"LC_ALL": "C.UTF-8"}  # nothing from the bot's environment
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from bot.templates.worker import worker_main; "
    "worker_main(*map(int, sys.argv[2:5]), kernel_watch=sys.argv[5] == '1')"
)


@dataclass(frozen=True)
class SharedData:
    """Context data many renders share (the review itself), sent to a worker once.

    ``key`` names the data: a worker keeps the last ``SharedData`` it was sent and is sent
    it again only when a render needs a different key.
    """

    key: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class _Request:
    source: str
    shared: SharedData | None
    common: Mapping[str, Any] | None
    lines: LineDecoder | None  # set: the worker parses the markup into styled lines


class _Worker:
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


class TemplateSandbox:
    """Renders untrusted templates in a small pool of killable worker processes.

    Use ``await sandbox.start()`` to warm the workers up (otherwise the first render does),
    and ``await sandbox.close()`` to stop them. While one worker is busy (or stuck until its
    time runs out) the others keep serving renders, and the event loop never waits on a
    worker: other chats keep getting answers.
    """

    def __init__(
        self,
        *,
        workers: int = WORKERS,
        timeout: float = RENDER_TIMEOUT,
        memory_limit: int = MEMORY_LIMIT,
        max_output: int = MAX_OUTPUT_CHARS,
        python: str | None = None,
        cpu_limit: int | None = None,
        kernel_watch: bool = True,
    ) -> None:
        """``cpu_limit``: CPU seconds a worker allows itself per render (default: the time
        limit, rounded up), in case the bot is gone and cannot kill it. ``kernel_watch``
        False (for tests) leaves a worker only the portable watch for the bot's death."""
        if workers < 1:
            raise ValueError("the sandbox needs at least one worker")
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.max_output = max_output
        root = str(Path(__file__).resolve().parents[2])  # the folder holding bot/
        cpu = cpu_limit if cpu_limit is not None else math.ceil(timeout)
        command = [
            *(python or sys.executable, "-I", "-c", _BOOT, root),
            *(str(memory_limit), str(cpu), str(os.getpid()), "1" if kernel_watch else "0"),
        ]
        self._workers = [_Worker(command) for _ in range(workers)]
        self._idle: asyncio.Queue[_Worker] | None = None
        self._restarts: set[asyncio.Task[None]] = set()
        self._closed = False
        self._passed: dict[str, None] = {}

    # -- lifecycle

    async def start(self) -> None:
        """Start every worker now rather than on first use."""
        self._check_open()
        await asyncio.gather(*(w.ensure_running() for w in self._workers))

    async def close(self) -> None:
        """Kill the workers and wait for them; the sandbox cannot be used afterwards."""
        self._closed = True
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*self._restarts, return_exceptions=True)
        await asyncio.gather(*(w.retire() for w in self._workers))

    def worker_pids(self) -> list[int]:
        """The running workers' process ids (for diagnostics and tests)."""
        return [pid for w in self._workers if w.alive and (pid := w.pid) is not None]

    @property
    def worker_starts(self) -> int:
        """How many worker processes have been started in all (restarts included)."""
        return sum(w.starts for w in self._workers)

    # -- rendering

    async def validate(
        self,
        source: str,
        sample_context: Mapping[str, Any],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
    ) -> None:
        """Refuse (with :class:`TemplateRejected`) a template that would not render.

        Syntax errors come with their line; so do errors met while rendering the sample.
        """
        await self.render(source, sample_context, shared=shared, common=common)

    async def render(
        self,
        source: str,
        context: Mapping[str, Any],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
    ) -> str:
        """The template's output for one context (plain data only)."""
        return (await self.render_many(source, [context], shared=shared, common=common))[0]

    async def render_many(
        self,
        source: str,
        contexts: Sequence[Mapping[str, Any]],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """The template's output for each context, in order.

        Each render is given ``shared.data``, then ``common``, then its own context (later
        keys win). The first failing render raises; its message names the failing item.
        """
        outputs = await self._render(_Request(source, shared, common, None), contexts)
        return [str(out) for out in outputs]

    async def render_lines(
        self,
        source: str,
        context: Mapping[str, Any],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
    ) -> tuple[Line, ...]:
        """Like :meth:`render`, parsed into styled lines (:func:`bot.richtext.parse`)."""
        [lines] = await self.render_lines_many(source, [context], shared=shared, common=common)
        return lines

    async def render_lines_many(
        self,
        source: str,
        contexts: Sequence[Mapping[str, Any]],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
    ) -> list[tuple[Line, ...]]:
        """Like :meth:`render_many`, parsed into styled lines.

        The workers parse, so a large batch (a digest for thousands of chats) spends that
        time in parallel and off the bot's event loop.
        """
        outputs = await self._render(_Request(source, shared, common, LineDecoder()), contexts)
        return [out for out in outputs if isinstance(out, tuple)]

    async def _render(
        self, request: _Request, contexts: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        self._check_open()
        self._precheck(request.source)
        if not contexts:
            return []
        batches = [contexts[i : i + BATCH_SIZE] for i in range(0, len(contexts), BATCH_SIZE)]
        results = await asyncio.gather(
            *(self._run_batch(request, batch) for batch in batches),
            return_exceptions=True,
        )
        outputs: list[Any] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            outputs.extend(result)
        return outputs

    def _precheck(self, source: str) -> None:
        """:func:`precheck`, remembering sources that passed (the digest repeats them)."""
        if source in self._passed:
            return
        precheck(source)
        if len(self._passed) >= _PASSED_CACHE:
            self._passed.pop(next(iter(self._passed)))
        self._passed[source] = None

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the template sandbox is closed")

    def _idle_queue(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in self._workers:
                self._idle.put_nowait(worker)
        return self._idle

    async def _run_batch(
        self, request: _Request, contexts: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        idle = self._idle_queue()
        worker = await idle.get()
        try:
            await worker.ensure_running()
            return await self._exchange(worker, request, contexts)
        finally:
            idle.put_nowait(worker)
            if not worker.alive and not self._closed:
                self._restart_later(worker)

    async def _exchange(
        self, worker: _Worker, request: _Request, contexts: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        shared = request.shared
        message: dict[str, Any] = {
            "source": request.source,
            "max_output": self.max_output,
            "lines": request.lines is not None,
            "common": dict(request.common or {}),
            "contexts": [dict(c) for c in contexts],
            "shared_key": shared.key if shared else None,
        }
        if shared is not None and worker.shared_key != shared.key:
            message["shared"] = dict(shared.data)
        outputs: list[Any] = []
        failure: Mapping[str, Any] | None = None
        try:
            await asyncio.wait_for(worker.send(message), self.timeout)
            worker.shared_key = shared.key if shared else worker.shared_key
            decoder = request.lines
            while failure is None and len(outputs) < len(contexts):
                reply = await worker.receive(self.timeout)
                done = reply.get("outs")
                if not isinstance(done, list):
                    failure = reply
                elif decoder is not None:  # decoded as they come, while the workers go on
                    outputs.extend(decoder.lines(out) for out in done)
                elif all(isinstance(out, str) for out in done):
                    outputs.extend(done)
                else:
                    raise WorkerGone("malformed outputs")
        except TimeoutError:
            await worker.stop()
            logger.warning("template render overran %.1fs; worker killed", self.timeout)
            raise TemplateTimeout(
                f"rendering took longer than {self.timeout:g} seconds and was stopped "
                "(a loop that runs too long?)"
            ) from None
        except WorkerGone as err:
            await worker.stop()
            logger.warning("template worker died during a render: %s", err)
            raise TemplateRejected(
                "the renderer stopped while running this template (too much memory or "
                "recursion?)"
            ) from None
        except BaseException:
            # Cancelled mid-exchange: the worker's place in the protocol is unknown.
            await worker.stop()
            raise
        if failure is not None:
            if failure.get("kind") == "memory":
                # Memory ran out once: start clean rather than trust a fragmented heap.
                await worker.stop()
            raise self._rejection(failure, len(outputs), len(contexts))
        return outputs

    @staticmethod
    def _rejection(reply: Mapping[str, Any], index: int, count: int) -> TemplateRejected:
        message = str(reply.get("message") or "the template failed")
        line = reply.get("line")
        if count > 1:
            message = f"{message} (rendering item {index + 1} of {count})"
        return TemplateRejected(message, line if isinstance(line, int) else None)

    def _restart_later(self, worker: _Worker) -> None:
        """Keep the pool warm: replace a killed worker now, not on the next render."""

        async def restart() -> None:
            try:
                await worker.ensure_running()
            except RuntimeError:
                logger.exception("could not restart a template worker")

        task = asyncio.get_running_loop().create_task(restart())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)
