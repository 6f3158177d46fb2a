"""Moderators' templates, rendered in killable worker processes.

Anyone can create a group and be its admin, so a chat template is untrusted code. It is
held by several layers, each enough for a class of attack:

- Jinja2's ``ImmutableSandboxedEnvironment`` (jinja2 >= 3.1.6): no ``_``-prefixed attributes,
  no method that changes a list, dict or set, ``str.format`` sandboxed however it is reached
  (CVE-2024-56326, CVE-2025-27516). Autoescape is on, so values can never become markup.
- ``include``, ``import`` and ``extends`` are refused when the template is compiled: a chat
  template reaches no other template, neither another chat's nor a built-in one.
- Sizes are capped: the source (8,000 characters), bracket nesting (32 levels), the output
  (16,000 characters: generation stops there), and the operations that build huge values in
  one step (``*`` repetition, ``**``, ``%`` and ``format`` widths, ``ljust`` and friends).
- Rendering (parsing and compiling included) happens in worker processes started from a fresh
  interpreter in isolated mode (``-I``) with an empty environment, so no token or setting is
  there to leak. Each worker limits its own address space (``RLIMIT_AS``, 256 MB) and may not
  write files or fork. A render that runs past 2 seconds is killed with SIGKILL, the worker is
  restarted, and the moderator is told why. Workers receive only the template source and plain
  JSON data, and send back only JSON: nothing is ever unpickled from them.

The worker half of this module (``worker_main`` and what it calls) runs in the child and
imports nothing from the bot but this file and :mod:`bot.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import string
import struct
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.lexer import get_lexer
from jinja2.runtime import Context as JinjaContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot import richtext
from bot.errors import UserInputError
from bot.messages import Line, Span

logger = logging.getLogger(__name__)

MAX_SOURCE_CHARS = 8_000
MAX_OUTPUT_CHARS = 16_000
MAX_NESTING = 32
RENDER_TIMEOUT = 2.0  # seconds per render, parsing included
MEMORY_LIMIT = 256 * 1024 * 1024  # bytes of address space per worker
WORKERS = 2
BATCH_SIZE = 250  # renders per request: amortises IPC, lets other chats in between batches

MAX_REPEAT = 100_000  # items a string or list may be repeated to in one step
MAX_INT_BITS = 100_000  # bits of an integer built with * or **
MAX_WIDTH = 1_000  # padding and format widths
MAX_DATE_FORMAT = 64

SEARCH_KEY = "search"  # context key whose precomputed results become the search() function
NOW_KEY = "now"
DEFAULT_SEARCH_K = 3
SEARCH_NOTE = (
    'search() needs its words written in the template in quotes, like search("vetting", 3): '
    "the results are looked up before the template runs"
)

_STARTUP_TIMEOUT = 20.0
_PASSED_CACHE = 256
_FLUSH_INTERVAL = 0.01  # seconds between a worker's progress reports
_MAX_FRAME = 4 * 1024 * 1024
_HEADER = struct.Struct(">I")
_WORKER_ENV = {"LC_ALL": "C.UTF-8"}  # nothing from the bot's environment
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from bot.sandbox import worker_main; worker_main(int(sys.argv[2]))"
)


class TemplateRejected(UserInputError):
    """The template cannot be saved or rendered; ``reason`` says why, for its author."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line else reason)


class TemplateTimeout(TemplateRejected):
    """The render ran past the time limit and its worker was killed."""


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
    lines: _LineDecoder | None  # set: the worker parses the markup into styled lines


# ---------------------------------------------------------------------------------------------
# Checks the parent makes before a template reaches a worker
# ---------------------------------------------------------------------------------------------

_OPENERS = {"lparen": "rparen", "lbracket": "rbracket", "lbrace": "rbrace"}
_LEXING_ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def template_tokens(source: str) -> list[jinja2.lexer.Token]:
    """The template's tokens (tag and expression parts; text between tags is one token)."""
    return list(get_lexer(_LEXING_ENV).tokenize(source))


def precheck(source: str) -> None:
    """Refuse what is too big or too deeply nested before any worker parses it."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateRejected(
            f"the template is {len(source):,} characters long; the limit is "
            f"{MAX_SOURCE_CHARS:,}"
        )
    if not source.strip():
        raise TemplateRejected("the template is empty")
    try:
        tokens = template_tokens(source)
    except TemplateSyntaxError as err:
        raise TemplateRejected(err.message or "syntax error", err.lineno) from None
    except (ValueError, RecursionError):
        return  # the worker will report it with its line
    depth = 0
    for token in tokens:
        if token.type in _OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise TemplateRejected(
                    f"brackets are nested more than {MAX_NESTING} deep", token.lineno
                )
        elif token.type in _OPENERS.values():
            depth = max(0, depth - 1)


def search_key(words: str, k: int) -> str:
    """How precomputed search results are keyed, the same in the parent and the worker."""
    return f"{k}|{' '.join(words.lower().split())}"


def _encode_lines(lines: tuple[Line, ...]) -> list[list[list[str]]]:
    """Styled lines as JSON: each span is [text], [text, flags] or [text, flags, link]."""
    encoded = []
    for line in lines:
        spans = []
        for span in line:
            flags = ("b" if span.bold else "") + ("i" if span.italic else "")
            flags += "c" if span.code else ""
            if span.link is not None:
                spans.append([span.text, flags, span.link])
            else:
                spans.append([span.text, flags] if flags else [span.text])
        encoded.append(spans)
    return encoded


class _LineDecoder:
    """The inverse of :func:`_encode_lines`, checking the shape (a worker is not trusted).

    Spans are immutable and chats' briefings share most of theirs (the same
    recommendations, the same passages), so each distinct span is built once per batch.
    """

    def __init__(self) -> None:
        self._spans: dict[tuple[str, str, str | None], Span] = {}

    def lines(self, raw: Any) -> tuple[Line, ...]:
        try:
            return tuple(tuple(self._span(span) for span in line) for line in raw)
        except (TypeError, ValueError, IndexError, KeyError) as err:
            raise _WorkerGone(f"malformed lines: {err}") from None

    def _span(self, raw: Any) -> Span:
        text = raw[0]
        flags = raw[1] if len(raw) > 1 else ""
        link = raw[2] if len(raw) > 2 else None
        key = (text, flags, link)
        span = self._spans.get(key)
        if span is None:
            if not (isinstance(text, str) and isinstance(flags, str)):
                raise TypeError("span text and flags must be strings")
            if link is not None and not isinstance(link, str):
                raise TypeError("a span's link must be a string")
            span = Span(text, bold="b" in flags, italic="i" in flags, code="c" in flags, link=link)
            self._spans[key] = span
        return span


# ---------------------------------------------------------------------------------------------
# The parent side: a pool of warm workers
# ---------------------------------------------------------------------------------------------


class _WorkerGone(Exception):
    """The worker died, was killed, or broke the protocol."""


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
            except (_WorkerGone, TimeoutError):
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
            raise _WorkerGone("no worker")
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            proc.stdin.write(_HEADER.pack(len(body)) + body)
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError) as err:
            raise _WorkerGone(str(err)) from None

    async def receive(self, timeout: float) -> dict[str, Any]:
        return await asyncio.wait_for(self._read(), timeout)

    async def _read(self) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise _WorkerGone("no worker")
        try:
            (size,) = _HEADER.unpack(await proc.stdout.readexactly(_HEADER.size))
            if size > _MAX_FRAME:
                raise _WorkerGone(f"oversized reply ({size} bytes)")
            message = json.loads(await proc.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as err:
            raise _WorkerGone(str(err)) from None
        if not isinstance(message, dict):
            raise _WorkerGone("malformed reply")
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
    ) -> None:
        if workers < 1:
            raise ValueError("the sandbox needs at least one worker")
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.max_output = max_output
        root = str(Path(__file__).resolve().parent.parent)
        command = [python or sys.executable, "-I", "-c", _BOOT, root, str(memory_limit)]
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
        outputs = await self._render(_Request(source, shared, common, _LineDecoder()), contexts)
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
                    raise _WorkerGone("malformed outputs")
        except TimeoutError:
            await worker.stop()
            logger.warning("template render overran %.1fs; worker killed", self.timeout)
            raise TemplateTimeout(
                f"rendering took longer than {self.timeout:g} seconds and was stopped "
                "(a loop that runs too long?)"
            ) from None
        except _WorkerGone as err:
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


# ---------------------------------------------------------------------------------------------
# The worker side: runs in the child process only
# ---------------------------------------------------------------------------------------------


class _Refused(SecurityError):
    """A limit of ours (as opposed to one of Jinja's own sandbox rules)."""


class _OutputTooLong(Exception):
    pass


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_BANNED_NODES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _check_width(text: str) -> None:
    for match in re.finditer(r"\d+", text):
        if len(match.group()) > 6 or int(match.group()) > MAX_WIDTH:
            raise _Refused(f"widths above {MAX_WIDTH:,} are not allowed")


def _check_percent_format(fmt: str) -> None:
    for match in _PERCENT_SPEC.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise _Refused("'*' widths are not allowed in formats")
            if part is not None:
                _check_width(part)


def _check_brace_format(fmt: str) -> None:
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format will raise the same error itself
    for _, _, spec, _ in fields:
        if spec and "{" in spec:
            raise _Refused("nested fields in format specifications are not allowed")
        if spec:
            _check_width(spec)


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _Refused("that number would be too large")
        return
    count, seq = (right, left) if isinstance(right, int) else (left, right)
    if isinstance(count, int) and isinstance(seq, str | list | tuple):
        if len(seq) * max(count, 0) > MAX_REPEAT:
            raise _Refused(f"repeating that gives more than {MAX_REPEAT:,} items")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent > MAX_INT_BITS or exponent * base.bit_length() > MAX_INT_BITS:
            raise _Refused("that number would be too large")


class _ChatEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus our size limits on one-step value builders."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: JinjaContext, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        return super().call_binop(context, operator, left, right)

    def call(self, context: JinjaContext, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if (
            isinstance(obj, types.BuiltinMethodType | types.MethodType)
            and obj.__name__ in _PADDING_METHODS
            and isinstance(getattr(obj, "__self__", None), str | bytes)
        ):
            for value in (*args, *kwargs.values()):
                if isinstance(value, int) and value > MAX_WIDTH:
                    raise _Refused(f"widths above {MAX_WIDTH:,} are not allowed")
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_brace_format(fmt)
            return wrapped(*args, **kwargs)

        return checked


@dataclass(frozen=True)
class Moment:
    """``now`` in a template: parts of the chat's local time; prints as ``text``."""

    iso: str
    date: str
    time: str
    weekday: str
    day: int
    month: int
    month_name: str
    year: int
    hour: int
    minute: int
    timezone: str
    text: str

    def __str__(self) -> str:
        return self.text


def _date_filter(value: Any, fmt: str = "%d %B %Y") -> str:
    """``{{ doc.date|date("%d %b") }}``: formats an ISO date (or ``now``)."""
    if value is None or value == "":
        return ""
    if len(fmt) > MAX_DATE_FORMAT:
        raise _Refused(f"date formats are limited to {MAX_DATE_FORMAT} characters")
    text = value.iso if isinstance(value, Moment) else str(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return moment.strftime(fmt)


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja's ``format`` filter with widths capped."""
    fmt = str(value)
    _check_percent_format(fmt)
    return fmt % (kwargs or args)


def _sized_filter(inner: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose first argument (``width``) is capped."""

    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        width = args[0] if args else kwargs.get("width")
        if isinstance(width, int) and width > MAX_WIDTH:
            raise _Refused(f"widths above {MAX_WIDTH:,} are not allowed")
        return inner(value, *args, **kwargs)

    return checked


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def make_environment() -> _ChatEnvironment:
    """The environment chat templates are compiled in (inside the worker)."""
    env = _ChatEnvironment(
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        cache_size=0,
        auto_reload=False,
    )
    env.globals.pop("lipsum", None)  # a text generator: only a way to burn time
    env.filters["date"] = _date_filter
    env.filters["format"] = _format_filter
    env.filters["center"] = _sized_filter(env.filters["center"])
    env.filters["indent"] = _sized_filter(env.filters["indent"])
    return env


def _make_search(results: Any) -> Callable[..., Any]:
    table: Mapping[str, Any] = results if isinstance(results, dict) else {}

    def search(words: Any = None, k: Any = DEFAULT_SEARCH_K) -> Any:
        if not isinstance(words, str) or isinstance(k, bool) or not isinstance(k, int):
            raise _Refused(SEARCH_NOTE)
        found = table.get(search_key(words, k))
        if found is None:
            raise _Refused(SEARCH_NOTE)
        return found

    return search


def _moment(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    try:
        return Moment(**{f: value[f] for f in Moment.__dataclass_fields__})
    except (KeyError, TypeError):
        return value


class _Compiled:
    """A small cache of compiled templates, by source."""

    def __init__(self, env: _ChatEnvironment, size: int = 32) -> None:
        self._env = env
        self._size = size
        self._templates: dict[str, jinja2.Template] = {}

    def get(self, source: str) -> jinja2.Template:
        template = self._templates.get(source)
        if template is None:
            template = self._compile(source)
            if len(self._templates) >= self._size:
                self._templates.pop(next(iter(self._templates)))
            self._templates[source] = template
        return template

    def _compile(self, source: str) -> jinja2.Template:
        if len(source) > MAX_SOURCE_CHARS:
            raise _Refused("the template is too long")
        tree = self._env.parse(source)
        for node in tree.find_all(_BANNED_NODES):
            raise TemplateSyntaxError(
                "include, import and extends are not available in chat templates: a "
                "template can use only its own text",
                node.lineno,
            )
        return self._env.from_string(tree)


def _render_one(template: jinja2.Template, context: dict[str, Any], limit: int) -> str:
    parts: list[str] = []
    size = 0
    chunks = template.generate(context)
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _OutputTooLong()
            parts.append(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a generator stopped early must not keep its frame alive
    return "".join(parts)


def _template_line(err: BaseException) -> int | None:
    line = None
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(err: BaseException, limit: int) -> dict[str, Any]:
    """What the author is told: a kind, a short reason, the template line if known."""
    if isinstance(err, TemplateSyntaxError):
        message = _short(err.message or "syntax error")
        return {"kind": "syntax", "message": message, "line": err.lineno}
    line = _template_line(err)
    if isinstance(err, MemoryError):
        kind, message = "memory", "the template used too much memory and was stopped"
    elif isinstance(err, RecursionError):
        kind, message = "recursion", "the template is nested or recurses too deeply"
    elif isinstance(err, SyntaxError):
        # Python refused the code Jinja made: its line numbers are not the template's.
        kind, message, line = "recursion", "blocks are nested too deeply", None
    elif isinstance(err, _OutputTooLong):
        kind, message = "output", f"the output is longer than {limit:,} characters"
    elif isinstance(err, SecurityError):
        kind, message = "security", f"not allowed: {_short(_text(err))}"
    elif isinstance(err, jinja2.UndefinedError):
        kind, message = "undefined", _short(_text(err))
    else:
        kind, message = "error", _short(f"{type(err).__name__}: {_text(err)}")
    return {"kind": kind, "message": message, "line": line}


def _text(err: BaseException) -> str:
    try:
        return str(err)
    except Exception:
        return type(err).__name__


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _limit_resources(memory_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _messages(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    while True:
        header = _read_exactly(stream, _HEADER.size)
        if header is None:
            return
        body = _read_exactly(stream, _HEADER.unpack(header)[0])
        if body is None:
            return
        message = json.loads(body)
        if isinstance(message, dict):
            yield message


def _write(stream: IO[bytes], message: Mapping[str, Any]) -> None:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _private_pipes() -> tuple[IO[bytes], IO[bytes]]:
    """The protocol's pipes, moved off fds 0 and 1 so stray prints cannot corrupt it."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return requests, replies


def worker_main(memory_bytes: int) -> None:
    """The worker's loop: one request in, one reply per render out, until stdin closes."""
    _limit_resources(memory_bytes)
    warnings.simplefilter("ignore")  # compiling odd templates must not write to the bot's log
    requests, replies = _private_pipes()
    compiled = _Compiled(make_environment())
    shared_key: str | None = None
    shared: Mapping[str, Any] = {}
    _write(replies, {"ready": True})
    for request in _messages(requests):
        key = request.get("shared_key")
        if key is not None and isinstance(request.get("shared"), dict):
            shared_key, shared = key, request["shared"]
        if key is not None and key != shared_key:
            _write(replies, {"ok": False, "kind": "error", "message": "shared data missing"})
            continue
        base = {**(shared if key is not None else {}), **request.get("common", {})}
        _serve(request, compiled, base, replies)


def _serve(
    request: Mapping[str, Any],
    compiled: _Compiled,
    base: Mapping[str, Any],
    replies: IO[bytes],
) -> None:
    """Render each context; replies carry the outputs done so far, at most every 10 ms.

    The parent gives up on a worker that sends nothing for the time limit, so flushing
    after any render that ends more than ``_FLUSH_INTERVAL`` after the last reply keeps
    the limit per render while a batch of quick renders costs a handful of replies.
    """
    limit = int(request.get("max_output") or MAX_OUTPUT_CHARS)
    try:
        template = compiled.get(str(request.get("source", "")))
    except Exception as err:
        _write(replies, {"ok": False, **_describe(err, limit)})
        return
    as_lines = request.get("lines") is True
    done: list[Any] = []
    flushed = time.monotonic()
    for own in request.get("contexts", []):
        context = {**base, **own}
        context[SEARCH_KEY] = _make_search(context.get(SEARCH_KEY))
        if NOW_KEY in context:
            context[NOW_KEY] = _moment(context[NOW_KEY])
        try:
            markup = _render_one(template, context, limit)
            done.append(_encode_lines(richtext.parse(markup)) if as_lines else markup)
        except Exception as err:
            if done:
                _write(replies, {"outs": done})
            _write(replies, {"ok": False, **_describe(err, limit)})
            return
        if time.monotonic() - flushed >= _FLUSH_INTERVAL:
            _write(replies, {"outs": done})
            done, flushed = [], time.monotonic()
    if done:
        _write(replies, {"outs": done})
