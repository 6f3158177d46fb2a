"""A report's printed table of contents, read from its text.

Lines "Title ...... 123" (dot leaders of any kind), or, after a "Contents" heading, lines
that simply end in a page number ("Chapter 2 Warnings that were not heeded 31"). "Chapter 3:
...", "Part 2 ...", "Annex A. ..." and unnumbered lines ("Foreword") are top-level parts;
"3.7. Promotion", "9.ii. Bullying", "9.1.2. ..." are sections of the part above them. An
entry wrapped over two lines is joined. Page numbers never go down through a contents list,
so a number that breaks the order but fits once a trailing footnote digit or two are dropped
("843" between 83 and 85) is repaired.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.documents.lines import RECOMMENDATIONS_WORD, Line, norm, split_lines
from bot.model import TocEntry

logger = logging.getLogger(__name__)

LEADER_ENTRY = re.compile(
    r"^(?P<title>.*?[^\s.…·‥_⋯])\s*(?:(?:[.…·‥_⋯]\s?){2,}|…\s?)\s*(?P<page>\d{1,4})$"
)
# Without leaders: a title with a letter in it, a space, a page number.
_PLAIN_ENTRY = re.compile(r"^(?P<title>\S.*?[^\W\d_].*?[^\s.:,;])\s+(?P<page>\d{1,4})$")
CONTENTS_HEADING = re.compile(r"(?:table of )?contents:?", re.IGNORECASE)
PART_NUMBER = re.compile(
    r"^(?P<label>(?:Chapter|Part|Annex|Appendix|Section|Volume|Schedule)\s+"
    r"(?:\d+(?:\.\d+)*|[A-Z]|[IVXLC]+))\b\.?\s*[:–—-]?\s*(?P<title>.*)$"
)
SECTION_NUMBER = re.compile(r"^(?P<number>\d+(?:\.(?:\d+|[ivxlc]+))+)\.?\s+(?P<title>\S.*)$")
_TOP_NUMBER = re.compile(r"^(?P<number>\d+)\.?\s+(?P<title>[A-Z].*)$")
_MAX_ENTRY_WORDS = 25


@dataclass(frozen=True)
class RawEntry:
    title: str  # as printed, number included
    page: int
    start: int
    end: int


@dataclass(frozen=True)
class Toc:
    entries: tuple[RawEntry, ...]
    first_line: int  # index of the "Contents" heading, or of the first entry
    end_line: int  # index of the first line after the contents
    leaders: bool  # printed with dot leaders (search leaves those lines out by itself)


def find_toc(lines: Sequence[Line]) -> Toc | None:
    found = _toc_start(lines)
    if found is None:
        return None
    first, start, headed = found
    entries: list[RawEntry] = []
    i = start
    while i < len(lines):
        line = lines[i]
        match = _entry(line.text, headed)
        if match:
            entries.append(RawEntry(match["title"], int(match["page"]), line.start, line.end))
        elif line.text and _wraps_onto_next(lines, i, headed):
            nxt = lines[i + 1]
            joined = _entry(nxt.text, headed)
            assert joined is not None  # _wraps_onto_next checked it
            title = f"{line.text} {joined['title']}"
            entries.append(RawEntry(title, int(joined["page"]), line.start, nxt.end))
            i += 1
        elif line.text:
            break
        i += 1
    if len(entries) < 2:
        return None
    if not headed and not _pages_rise(entries):
        return None
    leaders = any(LEADER_ENTRY.match(lines[k].text) for k in range(start, i))
    return Toc(tuple(_repair_pages(entries)), first, i, leaders)


def plain_contents_span(text: str) -> tuple[int, int] | None:
    """Where a contents list printed without leaders is in the text (heading included)."""
    lines = split_lines(text)
    toc = find_toc(lines)
    if toc is None or toc.leaders:
        return None
    end = lines[toc.end_line - 1].end + 1 if toc.end_line <= len(lines) else len(text)
    return lines[toc.first_line].start, min(end, len(text))


def _entry(text: str, headed: bool) -> re.Match[str] | None:
    match = LEADER_ENTRY.match(text)
    if match or not headed or len(text.split()) > _MAX_ENTRY_WORDS:
        return match
    return _PLAIN_ENTRY.match(text)


def _pages_rise(entries: Sequence[RawEntry]) -> bool:
    return all(a.page <= b.page for a, b in zip(entries, entries[1:], strict=False))


def _toc_start(lines: Sequence[Line]) -> tuple[int, int, bool] | None:
    """(first line of the contents, first entry line, whether a heading names it)."""
    for i, line in enumerate(lines):
        if CONTENTS_HEADING.fullmatch(line.text):
            return i, i + 1, True
    # No heading: the first run of three leader entries in a row is the contents.
    for i in range(len(lines) - 2):
        if all(_looks_like_entry(lines[i + k].text) for k in range(3)):
            return i, i, False
    return None


def _looks_like_entry(text: str) -> bool:
    return text[-1:].isdigit() and LEADER_ENTRY.match(text) is not None


def _wraps_onto_next(lines: Sequence[Line], i: int, headed: bool) -> bool:
    """A contents entry printed over two lines: no page on the first, no number on the second."""
    if i + 1 >= len(lines):
        return False
    nxt = LEADER_ENTRY.match(lines[i + 1].text)
    if not nxt or _entry(lines[i].text, headed):
        return False
    second = nxt["title"]
    return not (PART_NUMBER.match(second) or SECTION_NUMBER.match(second))


def _repair_pages(entries: list[RawEntry]) -> list[RawEntry]:
    """Undo footnote digits glued onto page numbers ("843" for 84), which break the order."""
    repaired: list[RawEntry] = []
    for i, entry in enumerate(entries):
        previous = repaired[-1].page if repaired else 0
        later = [e.page for e in entries[i + 1 :]]
        page = entry.page
        if later and page > min(later):
            page = _drop_glued_digits(page, previous, min(later))
            if page != entry.page:
                logger.debug("contents page %d repaired to %d (%s)", entry.page, page, entry.title)
        repaired.append(RawEntry(entry.title, page, entry.start, entry.end))
    return repaired


def _drop_glued_digits(page: int, low: int, high: int) -> int:
    for divisor in (10, 100):
        candidate = page // divisor
        if candidate and low <= candidate <= high:
            return candidate
    return page


def group_toc(entries: Sequence[RawEntry], themes: set[str]) -> tuple[TocEntry, ...]:
    """Nest sections under their part, and recommendation themes under the recommendations."""
    parts: list[tuple[TocEntry, list[TocEntry]]] = []
    in_recommendations = False
    for raw in entries:
        number, title, is_section = entry_number(raw.title)
        entry = TocEntry(title=title, page=raw.page, number=number)
        is_theme = in_recommendations and number is None and norm(title) in themes
        if parts and (is_section or is_theme):
            parts[-1][1].append(entry)
            continue
        in_recommendations = number is None and bool(RECOMMENDATIONS_WORD.search(title))
        parts.append((entry, []))
    return tuple(
        TocEntry(part.title, part.page, part.number, tuple(children)) for part, children in parts
    )


def entry_number(printed: str) -> tuple[str | None, str, bool]:
    """Split "3.7. Promotion" into ("3.7", "Promotion", is a section)."""
    section = SECTION_NUMBER.match(printed)
    if section:
        return section["number"], section["title"].strip(), True
    part = PART_NUMBER.match(printed)
    if part and part["title"]:
        return part["label"], part["title"].strip(), False
    top = _TOP_NUMBER.match(printed)
    if top:
        return top["number"], top["title"].strip(), False
    return None, printed.strip(), False


def part_headings(toc: Toc | None, outline: Sequence[TocEntry] = ()) -> frozenset[str]:
    """Headings that surely start another part of the report, not a recommendations theme.

    Numbered parts ("Chapter 1: ...", "Annex A. ...") and the unnumbered parts listed before
    the recommendations; unnumbered entries after them may be themes, so they are left out.
    """
    printed = [entry.title for entry in toc.entries] if toc else []
    printed += [_printed(entry) for entry in outline]
    headings: set[str] = set()
    before_recommendations = True
    for entry in printed:
        number, title, is_section = entry_number(entry)
        if number is None and RECOMMENDATIONS_WORD.search(title):
            before_recommendations = False
        elif number is not None and not is_section:
            headings.update({norm(entry), norm(title)})
        elif number is None and before_recommendations:
            headings.add(norm(title))
    return frozenset(headings)


def _printed(entry: TocEntry) -> str:
    return f"{entry.number} {entry.title}" if entry.number else entry.title
