"""PDF reports (``.pdf``), read with pypdfium2 (Google's PDFium, the engine in Chrome).

PDFium gives each page's text in reading order, a line at a time. From there:

* running headers and footers (a line that comes back at the top or bottom of most pages,
  page numbers aside) and page-number lines ("12", "Page 12 of 300", "- 12 -", "xii") go;
* a word hyphenated across a line end is rejoined;
* lines are re-flowed into paragraphs, while headings and list items stay lines of their own;
* the outline (bookmarks), when there is one, gives the contents and marks the headings;
* the title is the PDF's own metadata title, when it has one.

A PDF with no text layer (a scan) is refused: the bot does no OCR.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium

from bot.documents.contents import LEADER_ENTRY, PART_NUMBER, entry_number
from bot.documents.lines import POINT, TERMINAL, is_heading, item_mark, norm
from bot.documents.readers.base import (
    MAX_FILE_BYTES,
    PageProgress,
    ReadText,
    UnreadableDocument,
    check_size,
    check_text,
)
from bot.documents.structure import FormatHints
from bot.model import TocEntry

logger = logging.getLogger(__name__)

_PAGE_NUMBER = re.compile(
    r"(?i:page\s+)?[-–—]?\s*(?:\d{1,4}|[ivxlc]{1,7})\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?"
)
_HYPHENS = ("-", "\u00ad", "\x02")
# PDFium's mark for a hyphen it found at a line end (the word goes on on the next line).
_LINE_END_HYPHEN = "\ufffe"
_EDGE_LINES = 2  # lines at the top and at the bottom of a page where furniture sits
_MIN_TEXT_PER_PAGE = 20  # characters; fewer on every page means there is no text layer


def read(path: Path, progress: PageProgress | None = None) -> ReadText:
    check_size(path, MAX_FILE_BYTES)
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise UnreadableDocument(f"not a readable PDF ({exc})") from exc
    try:
        pages = _page_lines(pdf, progress)
        outline = _outline(pdf)
        title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
    finally:
        pdf.close()
    blank = sum(sum(len(line) for line in page) < _MIN_TEXT_PER_PAGE for page in pages)
    if blank == len(pages):
        raise UnreadableDocument(
            "no text layer: it looks like a scanned image. The bot does not read images "
            "(no OCR); run it through OCR first, or use a copy with text"
        )
    if blank * 4 > len(pages):
        logger.warning("%s: %d of %d pages have no text (scanned pages?)", path, blank, len(pages))
    headings = {norm(_printed(e)) for e in _walk(outline)} | {norm(e.title) for e in _walk(outline)}
    text = reflow(strip_furniture(pages), frozenset(headings))
    hints = FormatHints(tuple(_printed(e) for e in _walk(outline)), outline)
    return ReadText(check_text(text), title, hints)


def _page_lines(pdf: pdfium.PdfDocument, progress: PageProgress | None) -> list[list[str]]:
    pages: list[list[str]] = []
    total = len(pdf)
    for index in range(total):
        page = pdf[index]
        textpage = page.get_textpage()
        raw = textpage.get_text_range()
        textpage.close()
        page.close()
        lines = [" ".join(line.split()) for line in re.split(r"\r\n|\r|\n", raw)]
        pages.append([line for line in lines if line])
        if progress is not None:
            progress(index + 1, total)
    return pages


def _outline(pdf: pdfium.PdfDocument) -> tuple[TocEntry, ...]:
    parts: list[tuple[TocEntry, list[TocEntry]]] = []
    for item in pdf.get_toc():
        title = " ".join((item.get_title() or "").split())
        if not title:
            continue
        index = item.get_dest().get_index() if item.get_dest() is not None else None
        number, name, _ = entry_number(title)
        entry = TocEntry(name, None if index is None else index + 1, number)
        if item.level > 0 and parts:
            parts[-1][1].append(entry)
        else:
            parts.append((entry, []))
    return tuple(TocEntry(e.title, e.page, e.number, tuple(kids)) for e, kids in parts)


def _walk(entries: Sequence[TocEntry]) -> list[TocEntry]:
    found: list[TocEntry] = []
    for entry in entries:
        found.append(entry)
        found.extend(_walk(entry.children))
    return found


def _printed(entry: TocEntry) -> str:
    return f"{entry.number} {entry.title}" if entry.number else entry.title


def strip_furniture(pages: Sequence[Sequence[str]]) -> list[str]:
    """All pages' lines in order, without running headers, footers and page numbers."""
    running, exact = _running_lines(pages)
    kept: list[str] = []
    for page in pages:
        last = len(page) - 1
        for k, line in enumerate(page):
            at_edge = k < _EDGE_LINES or k > last - _EDGE_LINES
            if at_edge and (_PAGE_NUMBER.fullmatch(line) or _is_running(line, running, exact)):
                continue
            kept.append(line)
    return kept


def _is_running(line: str, running: set[str], exact: Counter[str]) -> bool:
    if _furniture_key(line) not in running:
        return False
    # "Chapter 3" opening each chapter's first page is a heading, not furniture, although
    # with its number set aside it comes back page after page.
    return exact[line] > 1 or not PART_NUMBER.match(line)


def _running_lines(pages: Sequence[Sequence[str]]) -> tuple[set[str], Counter[str]]:
    """Lines (numbers aside) at the top or bottom of at least half the pages, and of 3;
    and how often each edge line comes back exactly."""
    counts: Counter[str] = Counter()
    exact: Counter[str] = Counter()
    for page in pages:
        edges = {*page[:_EDGE_LINES], *page[-_EDGE_LINES:]}
        counts.update({_furniture_key(line) for line in edges})
        exact.update(edges)
    if len(pages) < 3:
        return set(), exact
    needed = max(3, len(pages) // 2)
    return {key for key, count in counts.items() if count >= needed}, exact


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.casefold())


def reflow(lines: Sequence[str], headings: frozenset[str] = frozenset()) -> str:
    """Join a page's printed lines into paragraphs; headings and list items stay lines."""
    width = _typical_width(lines)
    blocks: list[str] = []
    ended = True  # the last line ended its paragraph
    for line in lines:
        entry = LEADER_ENTRY.match(line) is not None  # a contents line stands alone
        heading = entry or norm(line) in headings or (
            ended and is_heading(line) and len(line) < 0.7 * width
        )
        opens_item = bool(POINT.match(line) or item_mark(line))
        if blocks and not ended and not heading and not opens_item:
            blocks[-1] = _join(blocks[-1], line)
        else:
            blocks.append(line)
        ended = heading or (bool(TERMINAL.search(line)) and len(line) < 0.85 * width)
    return _layout(blocks)


def _typical_width(lines: Sequence[str]) -> int:
    lengths = sorted(len(line) for line in lines)
    return lengths[int(len(lengths) * 0.9)] if lengths else 80


def _join(paragraph: str, line: str) -> str:
    if paragraph.endswith(_LINE_END_HYPHEN):
        return paragraph[:-1] + line
    if paragraph.endswith(_HYPHENS) and line[:1].islower() and paragraph[-2:-1].isalpha():
        return paragraph[:-1] + line
    return f"{paragraph} {line}"


def _layout(blocks: Sequence[str]) -> str:
    """Blank lines between paragraphs; a sub-point stays right under what it belongs to."""
    out: list[str] = []
    for block in blocks:
        if out and not POINT.match(block):
            out.append("")
        out.append(block.replace(_LINE_END_HYPHEN, "").replace("\x02", "-"))
    return "\n".join(out)
