"""Adding documents after start-up: ``inquiry-bot ingest PATH``.

A file, or every document file in a folder (any format ``bot.documents.readers`` reads), is
read and cleaned like the built-in documents
(``bot.documents.corpus``), checked against what the bot already has (the same text twice is
refused, however its white space runs), and recorded in the store with the time it was
added. The next digests list it and quote its passages that match chats' alerts, and the
search index is rebuilt with it.

The store keeps the cleaned text itself; the file is not copied anywhere. One database file
is then the whole record of what was added (and the only thing to back up), a bot running
on another machine sees the document as soon as the database does, and there is no second
copy in a folder to drift from the database. At start-up the composition root adds
:func:`stored_documents` to the corpus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.documents.cache import DocumentCache, text_key
from bot.documents.corpus import (
    DOCUMENT_SUFFIXES,
    CorpusError,
    ParsedDocument,
    parse_document,
    parse_file,
)
from bot.errors import UserInputError
from bot.model import Corpus, Document, DocumentMeta
from bot.store import DocumentRecord, Store, text_hash

if TYPE_CHECKING:
    from bot.search import SearchIndex

log = logging.getLogger(__name__)

# (files done, files in all, the current file); for a single file, (pages done, pages, file)
Progress = Callable[[int, int, Path], None]


@dataclass(frozen=True)
class MetaOverrides:
    """Metadata given on the command line; it wins over a file's JSON sidecar."""

    title: str | None = None
    outlet: str | None = None
    date: str | None = None  # ISO date
    url: str | None = None

    def check(self) -> None:
        if self.date is not None:
            try:
                date.fromisoformat(self.date)
            except ValueError:
                raise UserInputError(
                    f"--date must be an ISO date like 2023-03-21, not {self.date!r}."
                ) from None
        if self.url is not None and not self.url.lower().startswith(("http://", "https://")):
            raise UserInputError(f"--url must start with http:// or https://, not {self.url!r}.")

    def apply(self, meta: DocumentMeta) -> DocumentMeta:
        return replace(
            meta,
            title=self.title or meta.title,
            outlet=self.outlet or meta.outlet,
            date=self.date or meta.date,
            url=self.url or meta.url,
        )


@dataclass(frozen=True)
class Refused:
    path: Path
    reason: str


@dataclass(frozen=True)
class IngestReport:
    added: tuple[DocumentRecord, ...]
    refused: tuple[Refused, ...]
    documents: tuple[Document, ...]  # the added documents, cleaned
    index: SearchIndex | None  # the index with them, if one was given and anything was added

    def summary(self) -> str:
        lines = [f"Added {len(self.added)} document{'s' if len(self.added) != 1 else ''}."]
        lines += [f"  + {r.id}: {r.title}" for r in self.added]
        if self.refused:
            lines.append(f"Refused {len(self.refused)}:")
            lines += [f"  - {r.path}: {r.reason}" for r in self.refused]
        return "\n".join(lines)


def document_files(path: Path) -> list[Path]:
    """The file itself, or the folder's document files in name order."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES
        )
    raise UserInputError(f"{path} is neither a file nor a folder.")


async def ingest(
    path: Path,
    store: Store,
    corpus: Corpus,
    at: datetime,
    index: SearchIndex | None = None,
    overrides: MetaOverrides | None = None,
    progress: Progress | None = None,
    cache_dir: Path | None = None,
    inquiry: str = "",
) -> IngestReport:
    """Add the document(s) at ``path`` to ``inquiry``; see the module notes."""
    overrides = overrides or MetaOverrides()
    overrides.check()
    files = document_files(path)
    if not files:
        suffixes = " or ".join(DOCUMENT_SUFFIXES)
        raise UserInputError(f"{path} holds no {suffixes} files to add.")
    if overrides.title and len(files) > 1:
        raise UserInputError(
            "--title names one document, and this folder holds several. Give each file a "
            "NAME.json sidecar with its title, or add the files one by one."
        )
    known = _Known(corpus, await store.list_documents())
    added: list[tuple[DocumentRecord, Document]] = []
    refused: list[Refused] = []
    cache = DocumentCache(cache_dir) if cache_dir is not None else None
    for done, file in enumerate(files, 1):
        pages = _page_progress(progress, file) if len(files) == 1 else None
        outcome = await _add_one(file, store, known, at, overrides, pages, cache, inquiry)
        if isinstance(outcome, Refused):
            refused.append(outcome)
            log.info("refused %s: %s", file, outcome.reason)
        else:
            added.append(outcome)
        if progress is not None and len(files) > 1:
            progress(done, len(files), file)
    documents = tuple(doc for _, doc in added)
    new_index = index.add_documents(documents) if index is not None and documents else None
    return IngestReport(tuple(r for r, _ in added), tuple(refused), documents, new_index)


def _page_progress(progress: Progress | None, file: Path) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(done, total, file)


async def _add_one(
    file: Path,
    store: Store,
    known: _Known,
    at: datetime,
    overrides: MetaOverrides,
    pages: Callable[[int, int], None] | None,
    cache: DocumentCache | None,
    inquiry: str = "",
) -> tuple[DocumentRecord, Document] | Refused:
    try:
        parsed = parse_file(file, pages)
    except CorpusError as err:
        return Refused(file, str(err).removeprefix(f"{file}: "))
    doc = parsed.document
    if not doc.text.strip():
        return Refused(file, "no text left once cleaned")
    digest = text_hash(doc.text)
    twin = known.with_hash(digest) or await store.find_document_by_hash(digest)
    if twin is not None:
        return Refused(file, f"the same text is already here, as {twin.id!r} ({twin.title})")
    meta = overrides.apply(replace(doc.meta, id=known.free_id(doc.meta.id)))
    doc = replace(doc, meta=meta)
    record = DocumentRecord(
        id=meta.id,
        title=meta.title,
        added_at=at,
        text_hash=digest,
        text=doc.text,
        outlet=meta.outlet,
        date=meta.date,
        url=meta.url,
        kind=meta.kind,
        inquiry=inquiry,
    )
    if not await store.add_document(record):  # added by someone else just now
        return Refused(file, "the same text or name was added meanwhile")
    known.add(record)
    log.info("added %s as %s", file, record.id)
    if cache is not None:
        # A restart finds it as read now, format hints (headings, outline) included.
        shown = parsed.sections if meta.kind == "report" else ()
        cached = replace(parsed, document=replace(doc, sections=shown))
        cache.put(text_key(digest, _meta_fields(meta)), cached)
    return record, doc


@dataclass(frozen=True)
class _Twin:
    id: str
    title: str


class _Known:
    """The documents the bot has (built-in and added), by id and by text hash."""

    def __init__(self, corpus: Corpus, stored: Sequence[DocumentRecord]) -> None:
        self.ids = {d.id for d in corpus.documents} | {r.id for r in stored}
        self.hashes = {text_hash(d.text): _Twin(d.id, d.meta.title) for d in corpus.documents}
        self.hashes.update({r.text_hash: _Twin(r.id, r.title) for r in stored})

    def with_hash(self, digest: str) -> _Twin | None:
        return self.hashes.get(digest)

    def free_id(self, wanted: str) -> str:
        candidate, n = wanted, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{wanted}-{n}"
        return candidate

    def add(self, record: DocumentRecord) -> None:
        self.ids.add(record.id)
        self.hashes[record.text_hash] = _Twin(record.id, record.title)


async def stored_documents(store: Store, cache_dir: Path | None = None) -> list[Document]:
    """The documents added with ``ingest``, ready to join the corpus at start-up.

    With `cache_dir`, each is cleaned and structured once, not at every start.
    """
    cache = DocumentCache(cache_dir) if cache_dir is not None else None
    return [parse_stored(record, cache).document for record in await store.list_documents()]


def parse_stored(record: DocumentRecord, cache: DocumentCache | None = None) -> ParsedDocument:
    """A document added with ``ingest``, cleaned and structured (once, with a cache)."""
    meta = DocumentMeta(
        record.id, record.title, record.outlet, record.date, record.kind, record.url
    )
    if cache is None:
        return parse_document(record.text, meta)
    key = text_key(record.text_hash, _meta_fields(meta))
    parsed = cache.get(key)
    if parsed is None:
        parsed = parse_document(record.text, meta)
        cache.put(key, parsed)
    return parsed


def _meta_fields(meta: DocumentMeta) -> tuple[str | None, ...]:
    return (meta.id, meta.title, meta.outlet, meta.date, meta.kind, meta.url)


def with_stored(corpus: Corpus, documents: Sequence[Document]) -> Corpus:
    """The corpus with added documents (built-in ones win an id clash)."""
    have = {d.id for d in corpus.documents}
    extra = tuple(d for d in documents if d.id not in have)
    return replace(corpus, documents=corpus.documents + extra)
