"""Walk a run of numbered items (findings or recommendations) line by line.

An item opens with a labelled line ("Finding 3:", "Recommendation 12", "R12.", "Rec. 12"), a
numbered paragraph ("1.", "1)", "(1)") or a numbered heading ("1. Title" marked as a heading
by the format). Whichever style the first item uses, the rest must use too; lines numbered in
another style are part of an item's body. Theme headings may sit between items (a heading
followed by the next number before any other heading). The run ends at a heading no item
follows, or at a heading that starts another part of the report.

A wrong list is worse than none: the walk records whether the numbering held together (no
number repeated, none going backwards, no gap that could not be recovered), and callers
drop a list that did not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.documents.lines import Lines, is_numbered, item_mark, norm, paragraph_blocks

logger = logging.getLogger(__name__)

MAX_NUMBER_GAP = 3


@dataclass(frozen=True)
class Item:
    number: int
    line: int  # index of its first line (of its first paragraph when inferred)
    start: int  # offset where its own words start (after the label and number)
    end: int
    span_start: int  # where its section starts: its number, or its words when inferred
    theme: str
    inferred: bool = False


@dataclass(frozen=True)
class Theme:
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class ItemRun:
    items: tuple[Item, ...]
    themes: tuple[Theme, ...]
    coherent: bool  # numbered 1..N, any gap recovered

    @property
    def end(self) -> int:
        return max(item.end for item in self.items) if self.items else 0


def walk_items(
    lines: Lines,
    start: int,
    stop: int,
    label: str,
    part_headings: frozenset[str] = frozenset(),
    recover_gaps: bool = False,
) -> ItemRun:
    """The items from line `start` (before line `stop`); `label` is "finding" or
    "recommendation", the labelled style accepted besides plain numbers."""
    walker = _Walker(lines, label, part_headings, recover_gaps)
    walker.walk(start, stop)
    end = max((item.end for item in walker.items), default=0)
    ends = [begin for _, begin in walker.themes[1:]] + [end]
    themes = tuple(
        Theme(title, begin, _trim(lines.text, begin, theme_end))
        for (title, begin), theme_end in zip(walker.themes, ends[: len(walker.themes)], strict=True)
    )
    coherent = walker.coherent and bool(walker.items) and walker.items[0].number == 1
    return ItemRun(tuple(walker.items), themes, coherent)


def _trim(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


class _Walker:
    def __init__(
        self, lines: Lines, label: str, part_headings: frozenset[str], recover_gaps: bool
    ) -> None:
        self.lines = lines
        self.label = label
        self.part_headings = part_headings
        self.recover_gaps = recover_gaps
        self.style: str | None = None  # the item style of the first item
        self.items: list[Item] = []
        self.themes: list[tuple[str, int]] = []
        self.coherent = True
        self._theme = ""
        self._open: tuple[int, int, int] | None = None  # (number, line index, rest offset)
        self._pending: list[int] = []  # unnumbered lines since the theme heading

    def _mark(self, i: int) -> tuple[int, int] | None:
        """(number, offset of its words) when line i opens an item in the accepted style."""
        mark = item_mark(self.lines[i].text)
        if mark is None or not (mark.kind == self.label or is_numbered(mark.kind)):
            return None
        if self.style is not None and mark.kind != self.style:
            return None
        return mark.number, self.lines[i].start + mark.rest

    def walk(self, start: int, stop: int) -> None:
        end = stop
        for i in range(start, stop):
            text = self.lines[i].text
            mark = self._mark(i)
            if mark and self._accepts(mark[0]):
                self.style = self.style or item_mark(text).kind  # type: ignore[union-attr]
                self._close(i)
                self._fill_gap(mark[0])
                self._open = (mark[0], i, mark[1])
            elif mark and (self.items or self._open):
                logger.debug("item numbered %d out of order: %r", mark[0], text[:60])
                self.coherent = False
            elif self.lines.is_heading(i):
                if norm(text) not in self.part_headings and self._heads_items(i):
                    self._start_theme(i)
                elif self.items or self._open:
                    end = i  # the next part of the report begins
                    break
            elif text and self._open is None and self._theme:
                self._pending.append(i)
        self._close(end)

    def _start_theme(self, i: int) -> None:
        self._close(i)
        self._theme = self.lines[i].text
        self.themes.append((self._theme, self.lines[i].start))
        self._pending = []

    def _expected(self) -> int:
        if self._open is not None:
            return self._open[0] + 1
        return self.items[-1].number + 1 if self.items else 1

    def _accepts(self, number: int) -> bool:
        expected = self._expected()
        return expected <= number <= expected + MAX_NUMBER_GAP

    def _heads_items(self, i: int) -> bool:
        """A theme heading is followed by the next item before any other heading."""
        for k in range(i + 1, len(self.lines)):
            mark = self._mark(k)
            if mark:
                return self._accepts(mark[0])
            if self.lines.is_heading(k):
                return False
        return False

    def _close(self, stop: int) -> None:
        if self._open is None:
            return
        number, first, rest = self._open
        self._open = None
        end = max(self.lines.block_end(first, stop), rest)
        self._add(Item(number, first, rest, end, self.lines[first].start, self._theme))
        self._pending = []

    def _fill_gap(self, number: int) -> None:
        """Give the missing numbers before `number` to the unnumbered paragraphs just before it."""
        missing = number - self._expected()
        if missing <= 0:
            return
        blocks = paragraph_blocks(self.lines.lines, self._pending)
        if not self.recover_gaps or len(blocks) < missing:
            logger.info("item numbers %d-%d missing", number - missing, number - 1)
            self.coherent = False
            return
        for offset, (first, last) in enumerate(blocks[-missing:]):
            start, end = self.lines[first].start, self.lines[last].end
            number_here = number - missing + offset
            self._add(Item(number_here, first, start, end, start, self._theme, inferred=True))
        self._pending = []

    def _add(self, item: Item) -> None:
        self.items.append(item)
