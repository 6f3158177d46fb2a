"""A chat's digest: the next finding and recommendation, new documents, and alert matches.

A subscription carries two cursors, so a daily reader walks through every finding and every
recommendation in turn and then starts again. Documents added since the chat's last digest
are listed, and their passages matching the chat's alerts are quoted. Sections with nothing
to say are left out.

The digest is the built-in ``briefings/digest.j2`` unless the chat chose one of its own
templates (``Store.get_digest_template``); those are rendered by ``render_custom``, which the
composition root wires to the template sandbox. Its context is plain data (dicts, lists,
strings, numbers), the same the built-in template gets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.digests.schedule import daily
from bot.errors import RendererStopped
from bot.messages import Button, Citation, Line, Reply
from bot.model import Corpus, Document, DocumentMeta, Finding, Recommendation
from bot.search.excerpt import make_excerpt
from bot.search.text import Passage, Stems, content_words, iter_terms, split_passages
from bot.store import Alert, DocumentRecord, Store, Subscription, TemplateVersion
from bot.views import Views

log = logging.getLogger(__name__)

_T = TypeVar("_T")

RenderCustom = Callable[[str, Mapping[str, Any]], Awaitable[tuple[Line, ...]]]
MakeDocument = Callable[[str, DocumentMeta], Document]

EXCERPT_CHARS = 320
MAX_NEW_DOCUMENTS = 8
MAX_PASSAGES_PER_ALERT = 3
MAX_ALERT_PASSAGES = 6
# A first digest lists what was added in the week before the chat subscribed.
FIRST_DIGEST_LOOKBACK = timedelta(days=7)
MEMO_LIMIT = 20_000  # distinct digests remembered between batches of one pass


@dataclass(frozen=True)
class Digest:
    reply: Reply
    finding_cursor: int  # where the digest after this one starts
    recommendation_cursor: int


@dataclass(frozen=True)
class AlertPassage:
    alerts: tuple[str, ...]  # the alert words it matched, as the chat typed them
    passage: Passage
    excerpt: tuple[tuple[str, bool], ...]  # (text, matched) runs


def alert_stems(words: str, stems: Stems) -> frozenset[str]:
    """What an alert looks for: the stems of its content words ("vetted" finds "vetting")."""
    return frozenset(stems.stem(word) for word in content_words(words))


def next_cursor(cursor: int, count: int) -> int:
    return (cursor + 1) % count if count else 0


class DigestBuilder:
    """Builds digests for many subscriptions at once (one pass of the scheduler)."""

    def __init__(
        self,
        corpus: Corpus,
        views: Views,
        store: Store,
        render_custom: RenderCustom | None = None,
        make_document: MakeDocument | None = None,
        inquiry: DigestInquiry | None = None,
    ) -> None:
        self.corpus = corpus
        self.inquiry = inquiry
        self.views = views
        self.store = store
        self.render_custom = render_custom
        self._make_document = make_document
        self._stems = Stems()
        # Documents, alerts and digests repeat across thousands of chats: work each out once.
        self._passages: dict[str, list[tuple[Passage, frozenset[str]]]] = {}  # by document id
        self._matches: dict[tuple[tuple[str, ...], tuple[str, ...]], list[AlertPassage]] = {}
        self._parts: dict[tuple[str, int], dict[str, Any]] = {}
        self._rendered: dict[tuple[Any, ...], Reply] = {}
        self._cleaned: dict[str, Document] = {}  # added documents the corpus doesn't hold
        self._dates: dict[tuple[str, datetime], str] = {}
        self._documents: dict[tuple[str, datetime], dict[str, Any]] = {}

    async def __call__(
        self, subscriptions: Sequence[Subscription], now: datetime
    ) -> list[Digest | None]:
        """Each subscription's digest; None holds one back for a later pass (its chat's
        own template could not be rendered because the renderer is stopping)."""
        return await self.build_many(subscriptions, now)

    async def build_many(
        self, subscriptions: Sequence[Subscription], now: datetime, *, preview: bool = False
    ) -> list[Digest | None]:
        if not subscriptions:
            return []
        keys = [sub.chat_key for sub in subscriptions]
        alerts = await self.store.alerts_for_chats(keys)
        custom = await self.store.digest_templates(keys) if self.render_custom else {}
        since = {sub.id: _new_since(sub) for sub in subscriptions}
        documents = await self.store.documents_added_between(min(since.values()), now)
        if self.inquiry is not None:  # alerts watch the documents of this digest's inquiry
            documents = [d for d in documents if d.inquiry == self.inquiry.name]
        if len(self._rendered) > MEMO_LIMIT:
            self._rendered.clear()
        if len(self._matches) > MEMO_LIMIT:
            self._matches.clear()
        contexts: list[dict[str, Any]] = []
        for sub in subscriptions:
            fresh = [d for d in documents if d.added_at > since[sub.id]]
            contexts.append(self._context(sub, fresh, alerts.get(sub.chat_key, []), now, preview))
        lines = await self._render_custom_all(subscriptions, contexts, custom)
        digests: list[Digest | None] = []
        for sub, context, own in zip(subscriptions, contexts, lines, strict=True):
            if isinstance(own, RendererStopped) and not preview:
                digests.append(None)  # the next process renders the chat's own template
                continue
            mine = own if isinstance(own, tuple) else None
            reply = self._builtin(context) if mine is None else _reply(context, mine)
            digests.append(self._digest(sub, reply))
        return digests

    async def preview(
        self,
        subscription: Subscription | None,
        chat_key: str,
        platform: str,
        chat_id: str,
        timezone: str,
        now: datetime,
    ) -> Reply:
        """What the next digest would say now; nothing is stored or moved."""
        sub = subscription or Subscription(
            id=0,
            chat_key=chat_key,
            platform=platform,
            chat_id=chat_id,
            timezone=timezone,
            schedule=daily(),
            since=now,
            created_at=now,
        )
        [digest] = await self.build_many([sub], now, preview=True)
        assert digest is not None  # a preview is never held
        return digest.reply

    # -- the context both kinds of template get

    def _context(
        self,
        sub: Subscription,
        fresh: list[DocumentRecord],
        alerts: list[Alert],
        now: datetime,
        preview: bool,
    ) -> dict[str, Any]:
        matches = self._alert_passages(fresh, alerts)
        heading = "Your briefing" if not preview else "Your next briefing (a preview)"
        label = self.inquiry.label if self.inquiry else None
        return {
            "heading": f"{heading}: {label}" if label else heading,
            "inquiry_label": label,
            "date": self._local_date(sub.timezone, now),
            "timezone": sub.timezone,
            "now": now.isoformat(),
            "alert_words": [a.words for a in alerts],
            "schedule": sub.schedule.describe(),
            "preview": preview,
            "finding": self._part("finding", sub.finding_cursor),
            "recommendation": self._part("recommendation", sub.recommendation_cursor),
            "new_documents": [self._new_document(d) for d in fresh[:MAX_NEW_DOCUMENTS]],
            "more_new_documents": max(0, len(fresh) - MAX_NEW_DOCUMENTS),
            "alerts": [self._alert_context(m) for m in matches],
        }

    def _local_date(self, timezone: str, now: datetime) -> str:
        """The pass's date where the chat is; thousands of chats share a few zones."""
        key = (timezone, now)
        found = self._dates.get(key)
        if found is None:
            if len(self._dates) > MEMO_LIMIT:
                self._dates.clear()
            local = now.astimezone(ZoneInfo(timezone))
            found = self._dates[key] = f"{local:%A} {local.day} {local:%B %Y}"
        return found

    def _new_document(self, record: DocumentRecord) -> dict[str, Any]:
        """A new document's context, built once a pass for every chat it is new to."""
        key = (record.id, record.added_at)
        found = self._documents.get(key)
        if found is None:
            if len(self._documents) > MEMO_LIMIT:
                self._documents.clear()
            found = self._documents[key] = _document_context(record)
        return found

    def _part(self, kind: str, cursor: int) -> dict[str, Any] | None:
        """The finding or recommendation at ``cursor`` (wrapping round), for templates."""
        structure = self.corpus.structure
        key = (kind, cursor)
        if key not in self._parts:
            if kind == "finding":
                finding = _pick(structure.findings, cursor)
                part = self._finding(finding, len(structure.findings)) if finding else None
            else:
                rec = _pick(structure.recommendations, cursor)
                part = self._recommendation(rec, len(structure.recommendations)) if rec else None
            if part is None:
                return None
            self._parts[key] = part
        return self._parts[key]

    def _finding(self, finding: Finding, total: int) -> dict[str, Any]:
        return {
            "number": finding.number,
            "total": total,
            "title": finding.title,
            "excerpt": _shorten(finding.text, EXCERPT_CHARS),
            "command": f"/finding {finding.number}",
            "citation": self._citation(finding.document_id, None),
        }

    def _recommendation(self, rec: Recommendation, total: int) -> dict[str, Any]:
        return {
            "number": rec.number,
            "total": total,
            "title": rec.title,
            "theme": rec.theme,
            "excerpt": _shorten(rec.text, EXCERPT_CHARS),
            "command": f"/recommendation {rec.number}",
            "citation": self._citation(rec.document_id, None),
        }

    def _citation(self, document_id: str, section: str | None) -> dict[str, Any]:
        doc = self.corpus.document(document_id)
        if doc is None:
            return {
                "document_id": document_id,
                "source": document_id,
                "title": document_id,
                "section": section,
                "url": None,
            }
        return {
            "document_id": document_id,
            "source": doc.meta.source,
            "title": doc.meta.title,
            "section": section,
            "url": doc.meta.url,
        }

    def _alert_context(self, match: AlertPassage) -> dict[str, Any]:
        doc = self._document(match.passage.document_id)
        meta = doc.meta if doc else None
        return {
            "alerts": list(match.alerts),
            "excerpt": [[text, matched] for text, matched in match.excerpt],
            "citation": {
                "document_id": match.passage.document_id,
                "source": meta.source if meta else match.passage.document_id,
                "title": meta.title if meta else match.passage.document_id,
                "section": match.passage.section,
                "url": meta.url if meta else None,
            },
        }

    # -- alerts

    def _alert_passages(
        self, fresh: list[DocumentRecord], alerts: list[Alert]
    ) -> list[AlertPassage]:
        if not fresh or not alerts:
            return []
        key = (tuple(d.id for d in fresh), tuple(a.words for a in alerts))
        found = self._matches.get(key)
        if found is None:
            found = self._matches[key] = self._find_alert_passages(fresh, alerts)
        return found

    def _find_alert_passages(
        self, fresh: list[DocumentRecord], alerts: list[Alert]
    ) -> list[AlertPassage]:
        wanted = [(a.words, alert_stems(a.words, self._stems)) for a in alerts]
        found: list[AlertPassage] = []
        per_alert: dict[str, int] = {}
        for record in fresh:
            for passage, stems in self._passages_of(record):
                if len(found) >= MAX_ALERT_PASSAGES:
                    return found
                hits = [
                    w
                    for w, need in wanted
                    if need and need <= stems and per_alert.get(w, 0) < MAX_PASSAGES_PER_ALERT
                ]
                if not hits:
                    continue
                for words in hits:
                    per_alert[words] = per_alert.get(words, 0) + 1
                matched = frozenset().union(*(need for w, need in wanted if w in hits))
                excerpt = make_excerpt(passage.text, matched, self._stems)
                found.append(AlertPassage(tuple(hits), passage, excerpt))
        return found

    def _passages_of(self, record: DocumentRecord) -> list[tuple[Passage, frozenset[str]]]:
        cached = self._passages.get(record.id)
        if cached is None:
            doc = self._document(record.id)
            if doc is None:
                doc = self._cleaned[record.id] = self._clean(record)
            cached = self._passages[record.id] = [
                (p, frozenset(t.stem for t in iter_terms(p.text, self._stems)))
                for p in split_passages(doc)
            ]
        return cached

    def _document(self, document_id: str) -> Document | None:
        return self.corpus.document(document_id) or self._cleaned.get(document_id)

    def _clean(self, record: DocumentRecord) -> Document:
        meta = DocumentMeta(
            record.id, record.title, record.outlet, record.date, record.kind, record.url
        )
        make = self._make_document
        if make is None:
            from bot.documents import document_from_text

            make = document_from_text
        return make(record.text, meta)

    # -- rendering

    async def _render_custom_all(
        self,
        subscriptions: Sequence[Subscription],
        contexts: list[dict[str, Any]],
        custom: Mapping[str, TemplateVersion],
    ) -> list[tuple[Line, ...] | RendererStopped | None]:
        """Each chat's own template rendered, None for the built-in digest, or the renderer's
        :class:`RendererStopped` (the digest is held rather than sent in the built-in form)."""
        results: list[tuple[Line, ...] | RendererStopped | None] = [None] * len(subscriptions)
        jobs = [
            (i, custom[sub.chat_key])
            for i, sub in enumerate(subscriptions)
            if sub.chat_key in custom
        ]
        if not jobs or self.render_custom is None:
            return results
        render = self.render_custom
        outputs = await asyncio.gather(
            *(render(template.source, contexts[i]) for i, template in jobs),
            return_exceptions=True,
        )
        for (i, template), output in zip(jobs, outputs, strict=True):
            if isinstance(output, RendererStopped):
                results[i] = output
            elif isinstance(output, BaseException):
                # The chat still gets its digest, in the built-in form.
                log.warning(
                    "digest template %r (version %d) of chat %s failed: %s; using the built-in",
                    template.name,
                    template.version,
                    template.chat_key,
                    output,
                )
            elif output:
                results[i] = output
        return results

    def _builtin(self, context: dict[str, Any]) -> Reply:
        # Many chats get the same digest on the same day: build each distinct one once (and
        # share the object, so the outbox encodes it once too).
        key = _memo_key(context)
        reply = self._rendered.get(key)
        if reply is None:
            lines = self.views.render("digest.j2", **context)
            reply = self._rendered[key] = _reply(context, lines)
        return reply

    def _digest(self, sub: Subscription, reply: Reply) -> Digest:
        structure = self.corpus.structure
        return Digest(
            reply=reply,
            finding_cursor=next_cursor(sub.finding_cursor, len(structure.findings)),
            recommendation_cursor=next_cursor(
                sub.recommendation_cursor, len(structure.recommendations)
            ),
        )


@dataclass(frozen=True)
class DigestInquiry:
    """The inquiry a builder's digests are about."""

    name: str
    label: str | None = None  # named in headings and citations (when there are several)


def _reply(context: dict[str, Any], lines: tuple[Line, ...]) -> Reply:
    return Reply(lines=lines, citations=_citations(context), buttons=_buttons(context))


def _new_since(sub: Subscription) -> datetime:
    return sub.last_digest_at or (sub.created_at - FIRST_DIGEST_LOOKBACK)


def _pick(items: Sequence[_T], cursor: int) -> _T | None:
    return items[cursor % len(items)] if items else None


def _shorten(text: str, limit: int) -> str:
    """The start of ``text``: whole sentences if they fit, else whole words and "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    if end >= limit // 2:
        return cut[: end + 1]
    return cut[: cut.rfind(" ")].rstrip(",;:") + "…"


def _document_context(record: DocumentRecord) -> dict[str, Any]:
    return {
        "document_id": record.id,
        "title": record.title,
        "source": record.outlet or record.title,
        "outlet": record.outlet,
        "date": record.date,
        "url": record.url,
        "added_at": record.added_at.isoformat(),
    }


def _memo_key(context: dict[str, Any]) -> tuple[Any, ...]:
    finding = context["finding"]
    rec = context["recommendation"]
    return (
        context["heading"],
        context["date"],
        finding["number"] if finding else None,
        rec["number"] if rec else None,
        tuple(d["document_id"] for d in context["new_documents"]),
        context["more_new_documents"],
        tuple(
            (tuple(a["alerts"]), a["citation"]["document_id"], tuple(map(tuple, a["excerpt"])))
            for a in context["alerts"]
        ),
    )


def _citations(context: dict[str, Any]) -> tuple[Citation, ...]:
    raw = []
    for part in ("finding", "recommendation"):
        if context[part]:
            raw.append(context[part]["citation"])
    raw.extend(
        {
            "document_id": d["document_id"],
            "source": d["source"],
            "title": d["title"],
            "section": None,
            "url": d["url"],
        }
        for d in context["new_documents"]
    )
    raw.extend(a["citation"] for a in context["alerts"])
    seen: dict[tuple[str, str | None], Citation] = {}
    label = context.get("inquiry_label")
    for c in raw:
        citation = Citation(
            c["document_id"], c["source"], c["title"], c["section"], c["url"], label
        )
        seen.setdefault((citation.document_id, citation.section), citation)
    return tuple(seen.values())


def _buttons(context: dict[str, Any]) -> tuple[tuple[Button, ...], ...]:
    row = []
    if context["finding"]:
        f = context["finding"]
        row.append(Button(f"Finding {f['number']} in full", f["command"]))
    if context["recommendation"]:
        r = context["recommendation"]
        row.append(Button(f"Recommendation {r['number']}", r["command"]))
    return (tuple(row),) if row else ()
