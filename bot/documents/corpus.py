"""Load the bot's documents from a folder: reports and articles with optional metadata sidecars.

A folder holds documents in any format ``bot.documents.readers`` reads (``.txt``, ``.md``,
``.pdf``, ``.html``/``.htm``, ``.docx``). ``name.pdf`` may have ``name.json`` beside it with
``title``, ``outlet``, ``date`` (ISO), ``kind`` ("report" or "news") and ``url``; every key is
optional. Without a sidecar title, the title the document carries (a PDF's metadata title, a
web page's ``og:title`` or ``<title>``, a Markdown ``#`` heading) stands for it, else the file
name. Texts are cleaned (``bot.documents.cleaning``) and the report's findings,
recommendations and contents read from them (``bot.documents.structure``) once; with a cache
folder, what was read is kept (``bot.documents.cache``) and a restart re-reads only what
changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from bot.documents.cache import DocumentCache, file_key
from bot.documents.cleaning import clean_text
from bot.documents.contents import plain_contents_span
from bot.documents.readers import SUFFIXES, PageProgress, UnreadableDocument, reader_for
from bot.documents.structure import FormatHints, extract_structure
from bot.errors import ConfigError
from bot.model import Corpus, Document, DocumentMeta, ReviewStructure, Section

logger = logging.getLogger(__name__)
_REASONS_SHOWN = 5  # files named when none of a folder's can be read

DOCUMENT_SUFFIXES = SUFFIXES
_META_KEYS = frozenset({"title", "outlet", "date", "kind", "url"})


class CorpusError(ConfigError):
    """The documents cannot be loaded; the message names the folder or file at fault.

    A configuration error, so front ends report it as the operator's to fix, not as a crash.
    """


@dataclass(frozen=True)
class ParsedDocument:
    """A cleaned document with what was read from it (empty for a news report)."""

    document: Document
    structure: ReviewStructure
    sections: tuple[Section, ...]


def default_corpus_dir() -> Path:
    """The folder of built-in documents: the installed ``seeds`` package."""
    return Path(str(resources.files("seeds")))


def document_paths(directory: Path) -> list[Path]:
    """The document files in a folder, sorted by name."""
    return sorted(
        p for p in directory.iterdir() if p.suffix.lower() in DOCUMENT_SUFFIXES and p.is_file()
    )


def load_corpus(directory: Path, cache_dir: Path | None = None) -> Corpus:
    """Every document in `directory`, sorted by file name, and the report's structure.

    With `cache_dir`, documents unchanged since they were last read come from the cache.
    """
    if not directory.is_dir():
        raise CorpusError(f"document folder not found: {directory}")
    paths = document_paths(directory)
    if not paths:
        kinds = ", ".join(sorted(set(DOCUMENT_SUFFIXES)))
        raise CorpusError(f"no documents ({kinds}) in {directory}")
    _check_unique_ids(paths)
    cache = DocumentCache(cache_dir) if cache_dir is not None else None
    corpus = build_corpus(_readable(directory, paths, cache))
    logger.info(
        "loaded %d documents from %s: %d findings, %d recommendations",
        len(corpus.documents),
        directory,
        len(corpus.structure.findings),
        len(corpus.structure.recommendations),
    )
    return corpus


def _readable(
    directory: Path, paths: list[Path], cache: DocumentCache | None
) -> list[ParsedDocument]:
    """The documents that can be read. One damaged file (or sidecar) is left out, loudly,
    rather than keeping the bot from serving all the others; none readable is an error."""
    parsed: list[ParsedDocument] = []
    failed: list[CorpusError] = []
    for path in paths:
        try:
            parsed.append(parse_file(path, cache=cache))
        except CorpusError as unreadable:
            failed.append(unreadable)
    if failed and not parsed:
        if len(failed) == 1:
            raise failed[0]
        reasons = "; ".join(str(fault) for fault in failed[:_REASONS_SHOWN])
        raise CorpusError(f"no document in {directory} could be read: {reasons}")
    for fault in failed:
        logger.error(
            "%s; left out: the other %d documents of %s are served", fault, len(parsed), directory
        )
    return parsed


def load_document(path: Path) -> Document:
    """One document file, cleaned, with its metadata sidecar if there is one."""
    return parse_file(path).document


def parse_file(
    path: Path, progress: PageProgress | None = None, cache: DocumentCache | None = None
) -> ParsedDocument:
    """Read, clean and structure one file (from the cache when it has not changed)."""
    if path.suffix.lower() not in SUFFIXES:
        raise CorpusError(f"{path}: not a document format the bot reads ({path.suffix or 'none'})")
    try:
        key = file_key(path) if cache is not None else ""
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            return cached
        # Only now: a format's library is imported when a file of it must be read.
        reader = reader_for(path)
        assert reader is not None  # its suffix is one of SUFFIXES
        read = reader(path, progress)
    except FileNotFoundError as exc:
        raise CorpusError(f"document not found: {path}") from exc
    except UnreadableDocument as exc:
        raise CorpusError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except Exception as exc:  # a format library's own failure on a damaged file
        logger.exception("reading %s failed", path)
        raise CorpusError(f"{path}: could not be read ({type(exc).__name__})") from exc
    meta = read_meta(path, read.title)
    parsed = parse_document(read.text, meta, read.hints)
    if cache is not None:
        cache.put(key, parsed)
    return parsed


def document_from_text(text: str, meta: DocumentMeta) -> Document:
    """Clean `text` and, for a report, mark its sections (findings, recommendations...)."""
    return parse_document(text, meta).document


def parse_document(
    text: str, meta: DocumentMeta, hints: FormatHints | None = None
) -> ParsedDocument:
    cleaned = clean_text(text)
    structure, sections = extract_structure(cleaned, meta.id, hints)
    span = plain_contents_span(cleaned)
    if span is not None:
        # Contents without leaders would read as a paragraph of titles and numbers in a
        # quoted passage: they are kept as the structure's contents, not in the text.
        cleaned = (cleaned[: span[0]] + cleaned[span[1] :]).strip("\n")
        hints = FormatHints((hints or FormatHints()).headings, structure.chapters)
        structure, sections = extract_structure(cleaned, meta.id, hints)
    # Only a report's sections are cited by name; a news report's numbered list is not a finding.
    shown = sections if meta.kind == "report" else ()
    return ParsedDocument(Document(meta, cleaned, shown), structure, sections)


def build_corpus(parsed: Sequence[ParsedDocument]) -> Corpus:
    """Put documents together; the review's structure comes from the report.

    The report is the document marked ``kind: report`` where findings or recommendations were
    found; if none is marked, the first document where they were found.
    """
    source = _structure_source(parsed)
    documents: list[Document] = []
    for item in parsed:
        doc = item.document
        if item is source and not doc.sections:
            doc = replace(doc, sections=item.sections)
        documents.append(doc)
    structure = source.structure if source else ReviewStructure()
    if source and not structure.chapters:
        # The contents may come from another report document (a separate front matter file).
        chapters = next(
            (p.structure.chapters for p in _reports(parsed) if p.structure.chapters), ()
        )
        structure = replace(structure, chapters=chapters)
    return Corpus(tuple(documents), structure)


def _reports(parsed: Sequence[ParsedDocument]) -> list[ParsedDocument]:
    return [p for p in parsed if p.document.meta.kind == "report"]


def _structure_source(parsed: Sequence[ParsedDocument]) -> ParsedDocument | None:
    def has_items(p: ParsedDocument) -> bool:
        return bool(p.structure.findings or p.structure.recommendations)

    reports = _reports(parsed)
    if reports:
        return next((p for p in reports if has_items(p)), reports[0])
    return next((p for p in parsed if has_items(p)), None)


def read_meta(path: Path, own_title: str | None = None) -> DocumentMeta:
    """Metadata for a document file: its JSON sidecar, else its own title, else its name."""
    doc_id = path.stem
    fallback = DocumentMeta(id=doc_id, title=own_title or _title_from_name(doc_id))
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return fallback
    data = _read_json_object(sidecar)
    unknown = sorted(set(data) - _META_KEYS)
    if unknown:
        logger.warning("%s: ignoring unknown keys %s", sidecar, ", ".join(unknown))
    title = _optional_str(data, "title", sidecar) or fallback.title
    kind = _optional_str(data, "kind", sidecar) or fallback.kind
    return DocumentMeta(
        id=doc_id,
        title=title,
        outlet=_optional_str(data, "outlet", sidecar),
        date=_optional_date(data, sidecar),
        kind=kind,
        url=_optional_str(data, "url", sidecar),
    )


def _title_from_name(stem: str) -> str:
    return " ".join(stem.replace("-", " ").replace("_", " ").split()) or stem


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: metadata must be a JSON object, not {type(data).__name__}")
    return data


def _optional_str(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CorpusError(f"{path}: {key!r} must be a string or null, not {value!r}")
    return value.strip() or None


def _optional_date(data: dict[str, Any], path: Path) -> str | None:
    value = _optional_str(data, "date", path)
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise CorpusError(
            f"{path}: 'date' must be an ISO date like 2023-03-21, not {value!r}"
        ) from exc


def _check_unique_ids(paths: Sequence[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise CorpusError(
                f"two documents share the name {path.stem!r}: {seen[path.stem]} and {path}"
            )
        seen[path.stem] = path

