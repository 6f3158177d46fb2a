"""What a chat template sees: the documented context, built from plain data only.

Every value here is a dict, list, str, int, float, bool or None, so it crosses to the sandbox
worker as JSON and no bot, platform or database object can ever reach a template:

- ``findings``: ``number``, ``title``, ``text``
- ``recommendations``: ``number``, ``title``, ``text``, ``theme``
- ``chapters``: ``title``, ``page``, ``number``, ``sections`` (each ``title``, ``page``,
  ``number``)
- ``documents`` and ``new_documents``: ``title``, ``outlet``, ``date`` (ISO), ``url``,
  ``source`` (the outlet, else the title), ``kind`` ("report" or "news")
- ``alerts``: the chat's alert words, as typed
- ``now``: the chat's local time; prints as "Tuesday 21 March 2023, 09:00 GMT" and has
  ``date``, ``time``, ``weekday``, ``day``, ``month``, ``month_name``, ``year``, ``hour``,
  ``minute``, ``timezone`` and ``iso``
- ``search(words, k=3)``: up to ``k`` (at most 10) passages, each ``text``, ``source``,
  ``excerpt`` (a plain string), ``excerpt_parts`` (``text`` and ``match`` runs, to bold the
  matched words), ``document``, ``section``, ``url``, ``date``

How ``search`` works: the worker has no index (and must not have one: it would be a way out
of the sandbox), so searches are run before the template, in the bot. The template's tokens
are scanned for ``search("literal words", k)`` calls (positional or ``words=``/``k=``
keywords), each is run once, and the results go to the worker as plain data that its
``search`` function looks up. A search whose words are computed (``search(topic)``) cannot
be known in advance: it fails with a message saying to write the words in quotes, which the
author sees when saving. This costs nothing per render and keeps the worker free of callbacks.

The review's data (findings, recommendations, chapters, documents) is the same for every chat,
so it is sent to each worker once as :class:`bot.templates.sandbox.SharedData`; per render only the
chat's own values travel.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2.exceptions import TemplateSyntaxError

from bot.model import Corpus, TocEntry
from bot.templates.limits import (
    DEFAULT_SEARCH_K,
    NOW_KEY,
    SEARCH_KEY,
    TemplateRejected,
    search_key,
    template_tokens,
)
from bot.templates.sandbox import SharedData

if TYPE_CHECKING:
    from bot.search import SearchIndex

MAX_SEARCHES = 8  # distinct search() calls a template may make
MAX_SEARCH_K = 10
# A briefing's topic is a few words; more would only make saving a template search (and
# spell-correct) on the bot's event loop for longer.
MAX_SEARCH_WORDS = 12
MAX_SEARCH_CHARS = 120
_SEARCH_CACHE = 256
_COMMON_CACHE = 128


class DocumentLike(Protocol):
    """What a document listing needs: a DocumentMeta and a stored DocumentRecord both fit."""

    @property
    def title(self) -> str: ...

    @property
    def outlet(self) -> str | None: ...

    @property
    def date(self) -> str | None: ...

    @property
    def url(self) -> str | None: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class SearchCall:
    """A ``search("words", k)`` call written in a template."""

    words: str
    k: int
    line: int

    @property
    def key(self) -> str:
        return search_key(self.words, self.k)


# -- the review's data ------------------------------------------------------------------------


def document_data(doc: DocumentLike) -> dict[str, Any]:
    return {
        "title": doc.title,
        "outlet": doc.outlet,
        "date": doc.date,
        "url": doc.url,
        "source": doc.outlet or doc.title,
        "kind": doc.kind,
    }


def _chapter_data(entry: TocEntry) -> dict[str, Any]:
    return {
        "title": entry.title,
        "page": entry.page,
        "number": entry.number,
        "sections": [
            {"title": c.title, "page": c.page, "number": c.number} for c in entry.children
        ],
    }


def corpus_data(corpus: Corpus) -> dict[str, Any]:
    """The part of the context every chat shares."""
    structure = corpus.structure
    return {
        "findings": [
            {"number": f.number, "title": f.title, "text": f.text} for f in structure.findings
        ],
        "recommendations": [
            {"number": r.number, "title": r.title, "text": r.text, "theme": r.theme}
            for r in structure.recommendations
        ],
        "chapters": [_chapter_data(c) for c in structure.chapters],
        "documents": [document_data(d.meta) for d in corpus.documents],
    }


# -- one chat's data --------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def moment_data(now: datetime, timezone: str) -> dict[str, Any]:
    """``now`` in the chat's zone, as the parts a template may want."""
    local = now.astimezone(zone(timezone))
    abbreviation = local.tzname() or timezone
    return {
        "iso": local.isoformat(timespec="minutes"),
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M"),
        "weekday": local.strftime("%A"),
        "day": local.day,
        "month": local.month,
        "month_name": local.strftime("%B"),
        "year": local.year,
        "hour": local.hour,
        "minute": local.minute,
        "timezone": timezone,
        "text": f"{local.strftime('%A')} {local.day} {local.strftime('%B %Y, %H:%M')} "
        f"{abbreviation}",
    }


def chat_data(
    *,
    alerts: Sequence[str],
    now: datetime,
    timezone: str,
    new_documents: Sequence[DocumentLike] = (),
) -> dict[str, Any]:
    """The part of the context that is the chat's own."""
    return {
        "alerts": [str(a) for a in alerts],
        NOW_KEY: moment_data(now, timezone),
        "new_documents": [document_data(d) for d in new_documents],
    }


# -- search -----------------------------------------------------------------------------------


def search_calls(source: str) -> list[SearchCall]:
    """The distinct literal ``search(...)`` calls in a template, in order.

    Raises :class:`TemplateRejected` for more than :data:`MAX_SEARCHES` of them, a ``k``
    out of range, or words past :data:`MAX_SEARCH_WORDS` (or :data:`MAX_SEARCH_CHARS`).
    Calls with computed arguments are left out (they fail when rendered).
    """
    try:
        tokens = template_tokens(source)
    except (TemplateSyntaxError, ValueError, RecursionError):
        return []  # the worker reports the syntax error with its line
    found: dict[str, SearchCall] = {}
    for i, token in enumerate(tokens):
        if token.type != "name" or token.value != "search":
            continue
        if i and tokens[i - 1].type == "dot":
            continue
        call = _literal_call(tokens, i + 1, token.lineno)
        if call is not None:
            _check_k(call)
            _check_words(call)
            found.setdefault(call.key, call)
    if len(found) > MAX_SEARCHES:
        raise TemplateRejected(
            f"the template makes {len(found)} different searches; the limit is {MAX_SEARCHES}"
        )
    return list(found.values())


def _literal_call(tokens: Sequence[Any], start: int, line: int) -> SearchCall | None:
    """The call whose "(" is at ``start`` if every argument is a literal, else None."""
    if start >= len(tokens) or tokens[start].type != "lparen":
        return None
    args: list[list[Any]] = [[]]
    depth = 0
    for token in tokens[start + 1 :]:
        if token.type in ("lparen", "lbracket", "lbrace"):
            depth += 1
        elif token.type in ("rparen", "rbracket", "rbrace"):
            if depth == 0:
                return _call_from_args(args, line)
            depth -= 1
        elif token.type == "comma" and depth == 0:
            args.append([])
            continue
        args[-1].append(token)
    return None


def _call_from_args(args: list[list[Any]], line: int) -> SearchCall | None:
    words: str | None = None
    k = DEFAULT_SEARCH_K
    for position, arg in enumerate(a for a in args if a):
        if len(arg) == 3 and arg[0].type == "name" and arg[1].type == "assign":
            name, value = arg[0].value, arg[2]
        elif len(arg) == 1:
            name, value = ("words" if position == 0 else "k"), arg[0]
        else:
            return None
        if name == "words" and value.type == "string":
            words = value.value
        elif name == "k" and value.type == "integer":
            k = value.value
        else:
            return None
    return SearchCall(words, k, line) if words is not None else None


def _check_k(call: SearchCall) -> None:
    if not 1 <= call.k <= MAX_SEARCH_K:
        raise TemplateRejected(
            f"search() returns 1 to {MAX_SEARCH_K} passages; k={call.k} is out of range",
            call.line,
        )


def _check_words(call: SearchCall) -> None:
    if len(call.words) > MAX_SEARCH_CHARS or len(call.words.split()) > MAX_SEARCH_WORDS:
        raise TemplateRejected(
            f"search() takes up to {MAX_SEARCH_WORDS} words ({MAX_SEARCH_CHARS} characters): "
            "name a topic, like search(\"vetting\")",
            call.line,
        )


def hit_data(hit: Any, corpus: Corpus) -> dict[str, Any]:
    """One search hit as plain data (``hit`` is a :class:`bot.search.Hit`)."""
    passage = hit.passage
    doc = corpus.document(passage.document_id)
    return {
        "text": passage.text,
        "source": doc.meta.source if doc else passage.document_id,
        "excerpt": "".join(text for text, _ in hit.excerpt),
        "excerpt_parts": [{"text": text, "match": bool(m)} for text, m in hit.excerpt],
        "document": doc.meta.title if doc else passage.document_id,
        "section": passage.section,
        "url": doc.meta.url if doc else None,
        "date": doc.meta.date if doc else None,
    }


# -- putting it together ----------------------------------------------------------------------


class TemplateContexts:
    """Builds render inputs for chat templates over one corpus and its index.

    Build one per corpus (it is cheap) and keep it: the shared data is sent to each worker
    once, and search results are cached by their words.
    """

    def __init__(
        self, corpus: Corpus, index: SearchIndex, about: Mapping[str, Any] | None = None
    ) -> None:
        self.corpus = corpus
        self.index = index
        # ``about``: more shared variables (the inquiry and the inquiries, bot.inquiries).
        shared = {**corpus_data(corpus), **(about or {})}
        self.shared = SharedData(f"corpus-{uuid.uuid4().hex}", shared)
        self._searches: dict[str, list[dict[str, Any]]] = {}
        self._common: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # searches fill the caches from worker threads

    def common(self, source: str) -> dict[str, Any]:
        """What every render of ``source`` shares beyond the review: its searches' results.

        Cached by source: the digest asks for the same template many times at once.
        """
        found = self._common.get(source)
        if found is None:
            calls = search_calls(source)
            found = {SEARCH_KEY: {call.key: self._search(call) for call in calls}}
            _remember(self._common, source, found, _COMMON_CACHE, self._lock)
        return found

    async def common_async(self, source: str) -> dict[str, Any]:
        """:meth:`common`, with any search not yet cached run on a worker thread.

        A search asks the model (tens of milliseconds each, up to eight a template): on the
        event loop that would hold up every other chat while one moderator saves.
        """
        found = self._common.get(source)
        if found is not None:
            return found
        return await asyncio.to_thread(self.common, source)

    def _search(self, call: SearchCall) -> list[dict[str, Any]]:
        found = self._searches.get(call.key)
        if found is None:
            result = self.index.search(call.words, call.k)
            found = [hit_data(hit, self.corpus) for hit in result.hits[: call.k]]
            _remember(self._searches, call.key, found, _SEARCH_CACHE, self._lock)
        return found

    def sample(self, chat: Mapping[str, Any]) -> dict[str, Any]:
        """The chat's context made fuller for checking a template when it is saved.

        Empty ``alerts`` and ``new_documents`` would let a loop over them go untested, so
        they get example values (two alerts, the three newest documents).
        """
        sample = dict(chat)
        if not sample.get("alerts"):
            sample["alerts"] = ["vetting", "misogyny"]
        if not sample.get("new_documents"):
            newest = sorted(self.corpus.documents, key=lambda d: d.meta.date or "")[-3:]
            sample["new_documents"] = [document_data(d.meta) for d in reversed(newest)]
        return sample


def _remember(
    cache: dict[str, Any], key: str, value: Any, size: int, lock: threading.Lock
) -> None:
    """Keep ``value``, dropping the oldest entry when the cache is full."""
    with lock:
        if len(cache) >= size and key not in cache:
            cache.pop(next(iter(cache)))
        cache[key] = value
