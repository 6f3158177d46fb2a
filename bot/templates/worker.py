"""The worker half of the template sandbox: runs in the child process only.

A worker is started by :class:`bot.templates.sandbox.TemplateSandbox` as a fresh interpreter
(``python -I``) with an empty environment; it limits its own resources, then reads render
requests from its pipe and writes back JSON, until the pipe closes. It imports nothing from
the bot but :mod:`bot.templates.limits`, :mod:`bot.templates.wire` and :mod:`bot.richtext`.
"""

from __future__ import annotations

import json
import os
import re
import string
import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context as JinjaContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot import richtext
from bot.templates.confine import arm_cpu_limit, die_with_parent, limit_resources
from bot.templates.limits import (
    DEFAULT_SEARCH_K,
    MAX_DATE_FORMAT,
    MAX_INT_BITS,
    MAX_OUTPUT_CHARS,
    MAX_REPEAT,
    MAX_SOURCE_CHARS,
    MAX_WIDTH,
    NOW_KEY,
    SEARCH_KEY,
    SEARCH_NOTE,
    cut_off,
    search_key,
)
from bot.templates.wire import HEADER, encode_lines

_FLUSH_INTERVAL = 0.01  # seconds between a worker's progress reports

class _Refused(SecurityError):
    """A limit of ours (as opposed to one of Jinja's own sandbox rules)."""


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
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                return cut_off("".join(parts), limit)
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


def _describe(err: BaseException) -> dict[str, Any]:
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
        header = _read_exactly(stream, HEADER.size)
        if header is None:
            return
        body = _read_exactly(stream, HEADER.unpack(header)[0])
        if body is None:
            return
        message = json.loads(body)
        if isinstance(message, dict):
            yield message


def _write(stream: IO[bytes], message: Mapping[str, Any]) -> None:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    stream.write(HEADER.pack(len(body)) + body)
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


def worker_main(memory_bytes: int, cpu_seconds: int, parent: int, kernel_watch: bool) -> None:
    """The worker's loop: one request in, one reply per render out, until stdin closes.

    ``parent`` is the bot's process id: the worker ends when the bot does (see
    :mod:`bot.templates.confine`); ``kernel_watch`` False leaves only the portable watch.
    """
    die_with_parent(parent, kernel=kernel_watch)
    limit_resources(memory_bytes)
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
        _serve(request, compiled, base, replies, cpu_seconds)


def _serve(
    request: Mapping[str, Any],
    compiled: _Compiled,
    base: Mapping[str, Any],
    replies: IO[bytes],
    cpu_seconds: int,
) -> None:
    """Render each context; replies carry the outputs done so far, at most every 10 ms.

    The parent gives up on a worker that sends nothing for the time limit, so flushing
    after any render that ends more than ``_FLUSH_INTERVAL`` after the last reply keeps
    the limit per render while a batch of quick renders costs a handful of replies.
    """
    limit = int(request.get("max_output") or MAX_OUTPUT_CHARS)
    try:
        arm_cpu_limit(cpu_seconds)
        template = compiled.get(str(request.get("source", "")))
    except Exception as err:
        _write(replies, {"ok": False, **_describe(err)})
        return
    as_lines = request.get("lines") is True
    done: list[Any] = []
    flushed = started = time.monotonic()
    time_slice = request.get("slice")
    if not isinstance(time_slice, int | float):
        time_slice = None
    for index, own in enumerate(request.get("contexts", [])):
        if index and time_slice is not None and time.monotonic() - started >= time_slice:
            # Our turn is over: say how far we got; the bot sends the rest again later.
            _write(replies, {"outs": done, "paused": True})
            return
        context = {**base, **own}
        context[SEARCH_KEY] = _make_search(context.get(SEARCH_KEY))
        if NOW_KEY in context:
            context[NOW_KEY] = _moment(context[NOW_KEY])
        try:
            arm_cpu_limit(cpu_seconds)
            markup = _render_one(template, context, limit)
            done.append(encode_lines(richtext.parse(markup)) if as_lines else markup)
        except Exception as err:
            if done:
                _write(replies, {"outs": done})
            _write(replies, {"ok": False, **_describe(err)})
            return
        if time.monotonic() - flushed >= _FLUSH_INTERVAL:
            _write(replies, {"outs": done})
            done, flushed = [], time.monotonic()
    if done:
        _write(replies, {"outs": done})
