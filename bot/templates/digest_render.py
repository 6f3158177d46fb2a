"""The digest's seam: how a digest pass renders each chat's chosen template.

Renders of one template asked for together (the digest's gather) go to the sandbox as one
batch; see :class:`_Batcher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messages import Line
from bot.ports import Clock, SystemClock
from bot.templates.context import DocumentLike, TemplateContexts, chat_data
from bot.templates.limits import PASS_BUDGET, TemplateOutOfTime, TemplateRejected, TemplateTimeout
from bot.templates.sandbox import TemplateSandbox

log = logging.getLogger(__name__)

RenderCustom = Callable[[str, Mapping[str, Any]], Awaitable[tuple[Line, ...]]]


def make_render_custom(
    sandbox: TemplateSandbox,
    contexts: TemplateContexts | Callable[[], TemplateContexts],
    clock: Clock | None = None,
    pass_budget: float = PASS_BUDGET,
) -> RenderCustom:
    """What the digest calls to render a chat's chosen template (``RenderCustom``).

    ``contexts`` is the review's data for templates, or a function giving the current one
    (:func:`current_contexts` follows the services' corpus as documents are ingested).
    ``render_custom(source, context)`` reads from the digest's context: ``now`` (an aware
    datetime or ISO string; else ``clock``'s time), ``timezone`` (IANA name), ``alert_words``
    (the chat's alerts; else the words of the alert matches in ``alerts``), and
    ``new_documents`` (dicts, records or metas with ``title``, ``outlet``, ``date``, ``url``).
    The template gets the documented context, no more. Returns styled lines; raises
    :class:`TemplateRejected` (with the reason) if the template fails, so the digest can
    fall back to its built-in format.

    The calls a digest pass makes together share ``pass_budget`` seconds of rendering:
    renders not started by then fail with :class:`TemplateOutOfTime` (those chats get the
    built-in digest), and one log line says how many there were.
    """
    now_of = clock or SystemClock()
    batcher = _Batcher(
        sandbox, contexts if callable(contexts) else lambda: contexts, pass_budget
    )

    async def render_custom(source: str, context: Mapping[str, Any]) -> tuple[Line, ...]:
        chat = chat_data(
            alerts=_alert_words(context),
            now=_moment(context.get("now"), now_of),
            timezone=str(context.get("timezone") or "UTC"),
            new_documents=[_document(d) for d in context.get("new_documents", ())],
        )
        return await batcher.render(source, chat)

    return render_custom


class _Batcher:
    """Renders of one template asked for together (the digest's gather) go as one batch.

    Each call waits on a future; at the end of the loop iteration the waiting contexts are
    grouped by source and sent with ``render_lines_many``, which costs one request per few
    hundred chats instead of one each. If a batch is refused, its chats are rendered one by
    one so each gets its own answer; a batch that overran fails as a whole (rendering a
    looping template again per chat would cost each of them the full time limit). The
    calls flushed together are one digest pass, with one deadline.
    """

    def __init__(
        self,
        sandbox: TemplateSandbox,
        contexts: Callable[[], TemplateContexts],
        pass_budget: float,
    ) -> None:
        self._sandbox = sandbox
        self._contexts = contexts
        self._pass_budget = pass_budget
        self._waiting: dict[str, list[_Waiting]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def render(self, source: str, chat: dict[str, Any]) -> tuple[Line, ...]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Line, ...]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush, loop)
        self._waiting.setdefault(source, []).append((chat, future))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting, self._waiting = self._waiting, {}
        run = _Pass(self._sandbox.clock() + self._pass_budget, self._pass_budget, len(waiting))
        for source, items in waiting.items():
            task = loop.create_task(self._run(source, items, run))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(run.task_done)

    async def _run(self, source: str, items: list[_Waiting], run: _Pass) -> None:
        try:
            outputs = await self._render_many(source, [chat for chat, _ in items], run.deadline)
        except TemplateOutOfTime as err:
            for (_, future), output in zip(items, err.outputs, strict=True):
                if output is None:
                    run.skipped += 1
                    _settle(future, error=err)
                else:
                    _settle(future, result=output)
        except TemplateTimeout as err:
            for _, future in items:
                _settle(future, error=err)
        except TemplateRejected as err:
            if len(items) == 1:
                _settle(items[0][1], error=err)
            else:
                await asyncio.gather(*(self._run(source, [item], run) for item in items))
        except Exception as err:  # the sandbox is closed or broken: every caller hears it
            for _, future in items:
                _settle(future, error=err)
        else:
            for (_, future), output in zip(items, outputs, strict=True):
                _settle(future, result=output)

    async def _render_many(
        self, source: str, chats: list[dict[str, Any]], deadline: float
    ) -> list[tuple[Line, ...]]:
        contexts = self._contexts()
        return await self._sandbox.render_lines_many(
            source,
            chats,
            shared=contexts.shared,
            common=await contexts.common_async(source),
            deadline=deadline,
        )


_Waiting = tuple[dict[str, Any], asyncio.Future[tuple[Line, ...]]]


@dataclass
class _Pass:
    """The renders one digest pass asked for together: their deadline, and what it cost."""

    deadline: float
    budget: float
    tasks_left: int
    skipped: int = 0

    def task_done(self, _: object) -> None:
        self.tasks_left -= 1
        if self.tasks_left == 0 and self.skipped:
            log.warning(
                "digest pass: the %gs for chats' own templates ran out; %d chats get the "
                "built-in digest this time",
                self.budget,
                self.skipped,
            )


def _settle(
    future: asyncio.Future[tuple[Line, ...]],
    result: tuple[Line, ...] = (),
    error: BaseException | None = None,
) -> None:
    if future.done():  # its caller gave up waiting
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _moment(value: Any, clock: Clock) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not None:
                return parsed
    return clock.now()


def _alert_words(context: Mapping[str, Any]) -> list[str]:
    """The chat's alert words, from ``alert_words`` or from the alert matches."""
    given = context.get("alert_words")
    items = given if given is not None else context.get("alerts", ())
    words: dict[str, None] = {}
    for item in items:
        if isinstance(item, str):
            words.setdefault(item)
        elif isinstance(item, Mapping):
            for word in item.get("alerts", ()):
                words.setdefault(str(word))
        elif hasattr(item, "words"):
            words.setdefault(str(item.words))
    return list(words)


@dataclass(frozen=True)
class _Listed:
    """A document given as a dict, in the shape :func:`document_data` reads."""

    title: str
    outlet: str | None
    date: str | None
    url: str | None
    kind: str


def _document(value: Any) -> DocumentLike:
    if isinstance(value, Mapping):
        return _Listed(
            str(value.get("title") or value.get("document_id") or ""),
            value.get("outlet"),
            value.get("date"),
            value.get("url"),
            str(value.get("kind") or "news"),
        )
    meta = getattr(value, "meta", value)  # a bot.model.Document gives its metadata
    return _Listed(meta.title, meta.outlet, meta.date, meta.url, meta.kind)
