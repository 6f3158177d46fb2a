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
  restarted, and the moderator is told why. A worker also holds its own CPU-time limit and
  ends when the bot does (:mod:`bot.templates.confine`). Workers receive only the template
  source and plain JSON data, and send back only JSON: nothing is ever unpickled from them.
- The workers are shared fairly (:mod:`bot.templates.fairness`): the chat served least
  recently goes first, each chat has a bound on renders pending and on worker time, a batch
  works in turns of :data:`SLICE`, and a digest pass has a deadline.

The worker half is :mod:`bot.templates.worker`; the limits and the checks made before a
template reaches a worker are in :mod:`bot.templates.limits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.messages import Line
from bot.templates.fairness import ChatBudget, FairPool
from bot.templates.limits import (
    BATCH_SIZE,
    CHAT_BUDGET_WINDOW,
    CHAT_RENDER_SECONDS,
    MAX_OUTPUT_CHARS,
    MAX_PENDING_PER_CHAT,
    MEMORY_LIMIT,
    RENDER_TIMEOUT,
    SLICE,
    WORKERS,
    SandboxClosed,
    TemplateBusy,
    TemplateOutOfTime,
    TemplateRejected,
    TemplateTimeout,
    precheck,
)
from bot.templates.process import WorkerProcess
from bot.templates.wire import LineDecoder, WorkerGone

logger = logging.getLogger(__name__)

_PASSED_CACHE = 256
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
    chat: str | None = None  # whose render: its share of the workers is checked and charged
    deadline: float | None = None  # (clock time) no render of it starts after this


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
        chat_seconds: float = CHAT_RENDER_SECONDS,
        budget_window: float = CHAT_BUDGET_WINDOW,
        max_pending: int = MAX_PENDING_PER_CHAT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``cpu_limit``: CPU seconds a worker allows itself per render (default: the time
        limit, rounded up), in case the bot is gone and cannot kill it. ``kernel_watch``
        False (for tests) leaves a worker only the portable watch for the bot's death.
        ``chat_seconds`` of worker time every ``budget_window`` seconds, and ``max_pending``
        renders at once, are a chat's share; ``clock`` tells the budget's time and deadlines.
        """
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
        self._workers = [WorkerProcess(command) for _ in range(workers)]
        self._pool = FairPool(self._workers)
        self._budget = ChatBudget(chat_seconds, budget_window)
        self._max_pending = max_pending
        self._pending: dict[str, int] = {}
        self.clock = clock
        self._restarts: set[asyncio.Task[None]] = set()
        self._closed = False
        self._passed: dict[str, None] = {}

    # -- lifecycle

    async def start(self) -> None:
        """Start every worker now rather than on first use."""
        self._check_open()
        await asyncio.gather(*(w.ensure_running() for w in self._workers))

    async def close(self) -> None:
        """Kill the workers and wait for them; the sandbox cannot be used afterwards.

        Renders waiting for a worker, and those under way, fail at once with
        :class:`SandboxClosed`: closing never waits for the queue.
        """
        self._closed = True
        self._pool.fail_waiting(SandboxClosed())
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
        chat: str | None = None,
    ) -> None:
        """Refuse (with :class:`TemplateRejected`) a template that would not render.

        Syntax errors come with their line; so do errors met while rendering the sample.
        """
        await self.render(source, sample_context, shared=shared, common=common, chat=chat)

    async def render(
        self,
        source: str,
        context: Mapping[str, Any],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
        chat: str | None = None,
    ) -> str:
        """The template's output for one context (plain data only)."""
        outputs = await self.render_many(source, [context], shared=shared, common=common, chat=chat)
        return outputs[0]

    async def render_many(
        self,
        source: str,
        contexts: Sequence[Mapping[str, Any]],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
        chat: str | None = None,
        deadline: float | None = None,
    ) -> list[str]:
        """The template's output for each context, in order.

        Each render is given ``shared.data``, then ``common``, then its own context (later
        keys win). The first failing render raises; its message names the failing item.

        ``chat`` names whose renders these are: the chat's share is checked first (a chat
        past it gets :class:`TemplateBusy`, saying how long to wait) and its worker time
        charged. Renders without a chat (a digest pass) take their turn as one more chat.
        Past ``deadline`` (a time of ``clock``) no more of them start:
        :class:`TemplateOutOfTime` carries the outputs done by then.
        """
        request = _Request(source, shared, common, None, chat, deadline)
        return [str(out) for out in await self._render(request, contexts)]

    async def render_lines(
        self,
        source: str,
        context: Mapping[str, Any],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
        chat: str | None = None,
    ) -> tuple[Line, ...]:
        """Like :meth:`render`, parsed into styled lines (:func:`bot.richtext.parse`)."""
        [lines] = await self.render_lines_many(
            source, [context], shared=shared, common=common, chat=chat
        )
        return lines

    async def render_lines_many(
        self,
        source: str,
        contexts: Sequence[Mapping[str, Any]],
        *,
        shared: SharedData | None = None,
        common: Mapping[str, Any] | None = None,
        chat: str | None = None,
        deadline: float | None = None,
    ) -> list[tuple[Line, ...]]:
        """Like :meth:`render_many`, parsed into styled lines.

        The workers parse, so a large batch (a digest for thousands of chats) spends that
        time in parallel and off the bot's event loop.
        """
        request = _Request(source, shared, common, LineDecoder(), chat, deadline)
        return [out for out in await self._render(request, contexts) if isinstance(out, tuple)]

    async def _render(
        self, request: _Request, contexts: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        self._check_open()
        self._precheck(request.source)
        if not contexts:
            return []
        batches = [contexts[i : i + BATCH_SIZE] for i in range(0, len(contexts), BATCH_SIZE)]
        with self._admitted(request.chat):
            results = await asyncio.gather(
                *(self._run_batch(request, batch) for batch in batches),
                return_exceptions=True,
            )
        outputs: list[Any] = []
        late: TemplateOutOfTime | None = None
        for result in results:
            if isinstance(result, TemplateOutOfTime):
                late = result
                outputs.extend(result.outputs)
            elif isinstance(result, BaseException):
                raise result
            else:
                outputs.extend(result)
        if late is not None:
            raise TemplateOutOfTime(late.reason, outputs)
        return outputs

    @contextlib.contextmanager
    def _admitted(self, chat: str | None) -> Iterator[None]:
        """A chat's renders, counted while they wait or run; refused past its share."""
        if chat is None:
            yield
            return
        pending = self._pending.get(chat, 0)
        if pending >= self._max_pending:
            raise TemplateBusy(
                f"This chat already has {pending} templates rendering; send it again when "
                "they are done."
            )
        wait = self._budget.wait(chat, self.clock())
        if wait > 0:
            raise TemplateBusy(
                f"This chat's templates have used their share of the renderer "
                f"({self._budget.seconds:g} seconds of work every "
                f"{self._budget.window:g} seconds); try again in {math.ceil(wait)} seconds."
            )
        self._pending[chat] = pending + 1
        try:
            yield
        finally:
            left = self._pending.pop(chat) - 1
            if left:
                self._pending[chat] = left

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
            raise SandboxClosed()

    async def _run_batch(
        self, request: _Request, contexts: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        """Render ``contexts`` a slice of time at a time, taking turns with other chats."""
        outputs: list[Any] = []
        while len(outputs) < len(contexts):
            self._check_time(request, outputs, len(contexts))
            worker = await self._pool.acquire(request.chat or "")
            used = 0.0  # the render's time, not a restart's: that is no chat's doing
            try:
                self._check_time(request, outputs, len(contexts))
                await worker.ensure_running()
                started = time.monotonic()
                try:
                    outputs += await self._exchange(worker, request, contexts, len(outputs))
                finally:
                    used = time.monotonic() - started
            finally:
                self._pool.release(worker)
                if request.chat is not None:
                    self._budget.charge(request.chat, used, self.clock())
                if not worker.alive and not self._closed:
                    self._restart_later(worker)
        return outputs

    def _check_time(self, request: _Request, outputs: list[Any], count: int) -> None:
        self._check_open()
        if request.deadline is not None and self.clock() >= request.deadline:
            skipped = [None] * (count - len(outputs))
            raise TemplateOutOfTime("the digest pass ran out of time", outputs + skipped)

    async def _exchange(
        self,
        worker: WorkerProcess,
        request: _Request,
        batch: Sequence[Mapping[str, Any]],
        first: int,
    ) -> list[Any]:
        """Renders of ``batch`` from its item ``first`` on, as many as the worker does in
        its slice of time (at least one)."""
        shared = request.shared
        contexts = batch[first:]
        slice_ = SLICE
        if request.deadline is not None:
            slice_ = max(0.0, min(slice_, request.deadline - self.clock()))
        message: dict[str, Any] = {
            "source": request.source,
            "max_output": self.max_output,
            "lines": request.lines is not None,
            "common": dict(request.common or {}),
            "contexts": [dict(c) for c in contexts],
            "shared_key": shared.key if shared else None,
            "slice": slice_,
        }
        if shared is not None and worker.shared_key != shared.key:
            message["shared"] = dict(shared.data)
        outputs: list[Any] = []
        failure: Mapping[str, Any] | None = None
        try:
            await asyncio.wait_for(worker.send(message), self.timeout)
            worker.shared_key = shared.key if shared else worker.shared_key
            decoder = request.lines
            paused = False
            while failure is None and not paused and len(outputs) < len(contexts):
                reply = await worker.receive(self.timeout)
                done = reply.get("outs")
                paused = reply.get("paused") is True
                if not isinstance(done, list) or len(outputs) + len(done) > len(contexts):
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
            if self._closed:
                raise SandboxClosed() from None
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
            raise self._rejection(failure, first + len(outputs), len(batch))
        return outputs

    @staticmethod
    def _rejection(reply: Mapping[str, Any], index: int, count: int) -> TemplateRejected:
        message = str(reply.get("message") or "the template failed")
        line = reply.get("line")
        if count > 1:
            message = f"{message} (rendering item {index + 1} of {count})"
        return TemplateRejected(message, line if isinstance(line, int) else None)

    def _restart_later(self, worker: WorkerProcess) -> None:
        """Keep the pool warm: replace a killed worker now, not on the next render."""

        async def restart() -> None:
            try:
                await worker.ensure_running()
            except RuntimeError:
                logger.exception("could not restart a template worker")

        task = asyncio.get_running_loop().create_task(restart())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)
