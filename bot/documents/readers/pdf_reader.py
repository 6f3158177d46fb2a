"""PDF reports (``.pdf``), read with pypdfium2 (Google's PDFium, the engine in Chrome).

PDFium gives each page's text in reading order, a line at a time, with each line's font
size; ``pdf_layout`` turns those lines into text (furniture off, footnotes to the end,
paragraphs re-flowed). The outline (bookmarks), when there is one, gives the contents and
marks the headings; the title is the PDF's own metadata title, when it has one.

A PDF with no text layer (a scan) is refused: the bot does no OCR.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from bot.documents.contents import entry_number
from bot.documents.lines import norm
from bot.documents.readers.base import (
    MAX_FILE_BYTES,
    PageProgress,
    ReadText,
    UnreadableDocument,
    check_size,
    check_text,
)
from bot.documents.readers.pdf_layout import Printed, lay_out
from bot.documents.structure import FormatHints
from bot.model import TocEntry

logger = logging.getLogger(__name__)

_LINE_BREAK = re.compile(r"\r\n")
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
    blank = sum(sum(len(line.text) for line in page) < _MIN_TEXT_PER_PAGE for page in pages)
    if blank == len(pages):
        raise UnreadableDocument(
            "no text layer: it looks like a scanned image. The bot does not read images "
            "(no OCR); run it through OCR first, or use a copy with text"
        )
    if blank * 4 > len(pages):
        logger.warning("%s: %d of %d pages have no text (scanned pages?)", path, blank, len(pages))
    headings = {norm(_printed(e)) for e in _walk(outline)} | {norm(e.title) for e in _walk(outline)}
    text = lay_out(pages, frozenset(headings))
    hints = FormatHints(tuple(_printed(e) for e in _walk(outline)), outline)
    return ReadText(check_text(text), title, hints)


def _page_lines(
    pdf: pdfium.PdfDocument, progress: PageProgress | None
) -> list[list[Printed]]:
    pages: list[list[Printed]] = []
    total = len(pdf)
    for index in range(total):
        page = pdf[index]
        textpage = page.get_textpage()
        try:
            pages.append(_printed_lines(textpage))
        finally:
            textpage.close()
            page.close()
        if progress is not None:
            progress(index + 1, total)
    return pages


def _printed_lines(textpage: pdfium.PdfTextPage) -> list[Printed]:
    """The page's lines, each with the font size of its first character."""
    text = textpage.get_text_range()
    chars = textpage.count_chars()
    lines: list[Printed] = []
    offset = 0
    for raw in _LINE_BREAK.split(text):
        stripped = raw.lstrip()
        first = offset + len(raw) - len(stripped)
        offset += len(raw) + 2  # PDFium ends a line with "\r\n"
        words = " ".join(stripped.split())
        if not words:
            continue
        size = pdfium_c.FPDFText_GetFontSize(textpage, first) if first < chars else 0.0
        lines.append(Printed(words, float(size)))
    return lines


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


