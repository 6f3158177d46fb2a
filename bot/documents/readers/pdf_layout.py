"""How a PDF's printed lines become text: furniture off, footnotes to the end, paragraphs.

Works on each page's lines with their font size, as ``pdf_reader`` reads them:

* running headers and footers (a line that comes back at the top or bottom of most pages,
  numbers aside) and page-number lines ("12", "Page 12 of 300", "- 12 -", "xii") go;
* footnotes (lines at the foot of a page, in a smaller type than the body, the first one
  starting with its number) are moved out of the running text, which often goes on over the
  page, to a "Notes" part at the end;
* lines are re-flowed into paragraphs, a word hyphenated at a line end rejoined, while
  headings (the outline's, a larger type than the body, or a short line standing alone) and
  list items stay lines of their own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.documents.contents import LEADER_ENTRY, PART_NUMBER
from bot.documents.lines import POINT, TERMINAL, is_heading, item_mark, norm

_PAGE_NUMBER = re.compile(
    r"(?i:page\s+)?[-–—]?\s*(?:\d{1,4}|[ivxlc]{1,7})\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?"
)
_FOOTNOTE_START = re.compile(r"(?:\d{1,3}|[*†‡])\s*\S")
_HYPHENS = ("-", "\u00ad", "\x02")
# PDFium's mark for a hyphen it found at a line end (the word goes on on the next line).
LINE_END_HYPHEN = "\ufffe"
_EDGE_LINES = 2  # lines at the top and at the bottom of a page where furniture sits
_SMALLER = 0.9  # footnotes are printed in a type at most this size of the body's
_LARGER = 1.15  # headings in a type at least this size of the body's
NOTES_HEADING = "Notes"


@dataclass(frozen=True, slots=True)
class Printed:
    """A printed line and its font size in points (0 when unknown)."""

    text: str
    size: float = 0.0


def body_size(pages: Sequence[Sequence[Printed]]) -> float:
    """The font size most of the text is printed in."""
    weights: Counter[float] = Counter()
    for page in pages:
        for line in page:
            weights[round(line.size * 2) / 2] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def lay_out(pages: Sequence[Sequence[Printed]], headings: frozenset[str] = frozenset()) -> str:
    """The document's text from its pages' printed lines."""
    size = body_size(pages)
    body: list[Printed] = []
    notes: list[Printed] = []
    for page in strip_furniture(pages):
        running, foot = split_footnotes(page, size)
        body += running
        notes += foot
    text = reflow(body, headings, size)
    if notes:
        text += f"\n\n{NOTES_HEADING}\n\n" + reflow(notes, frozenset(), 0.0, notes=True)
    return text


def strip_furniture(pages: Sequence[Sequence[Printed]]) -> list[list[Printed]]:
    """Each page's lines without running headers, footers and page numbers."""
    running, exact = _running_lines([[line.text for line in page] for page in pages])
    kept: list[list[Printed]] = []
    for page in pages:
        last = len(page) - 1
        kept.append(
            [
                line
                for k, line in enumerate(page)
                if not (
                    (k < _EDGE_LINES or k > last - _EDGE_LINES)
                    and (
                        _PAGE_NUMBER.fullmatch(line.text)
                        or _is_running(line.text, running, exact)
                    )
                )
            ]
        )
    return kept


def split_footnotes(
    page: Sequence[Printed], size: float
) -> tuple[list[Printed], list[Printed]]:
    """(the page's running text, its footnotes): the lines at its foot printed smaller than
    the body, from the first that starts with a note's number or mark."""
    if not size:
        return list(page), []
    start = len(page)
    while start > 0 and 0 < page[start - 1].size < _SMALLER * size:
        start -= 1
    while start < len(page) and not _FOOTNOTE_START.match(page[start].text):
        start += 1
    return list(page[:start]), list(page[start:])


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


def reflow(
    printed: Sequence[Printed],
    headings: frozenset[str] = frozenset(),
    size: float = 0.0,
    notes: bool = False,
) -> str:
    """Join printed lines into paragraphs; headings and list items stay lines. With `notes`,
    each line that starts with a note's number starts a paragraph."""
    lines = [p.text for p in printed]
    width = _typical_width(lines)
    blocks: list[str] = []
    ended = True  # the last line ended its paragraph
    for line, point_size in zip(lines, (p.size for p in printed), strict=True):
        entry = LEADER_ENTRY.match(line) is not None  # a contents line stands alone
        larger = bool(size) and point_size >= _LARGER * size and is_heading(line)
        heading = entry or larger or norm(line) in headings or (
            ended and is_heading(line) and len(line) < 0.7 * width
        )
        opens_item = bool(POINT.match(line) or item_mark(line))
        opens_item = opens_item or (notes and _FOOTNOTE_START.match(line) is not None)
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
    if paragraph.endswith(LINE_END_HYPHEN):
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
        out.append(block.replace(LINE_END_HYPHEN, "").replace("\x02", "-"))
    return "\n".join(out)
