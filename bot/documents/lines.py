"""A cleaned text as lines with offsets, and what a line can be: heading, item, sub-point.

Shared by the structure readers (``contents``, ``items``, ``findings``, ``recommendations``,
``sections``). Every rule is about how reports are printed, not about one report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A sub-point of an item: "(a)", "a)", "a.", "i)", "(i)", or a bullet.
POINT = re.compile(
    r"^(?:(?:[ivxlc]+|[a-z])[.)]|\([ivxlc]+\)|\([a-z]\)|[•▪◦●‣∙·*–-])\s*(?=\S)"
)
TERMINAL = re.compile(r"[.!?:;,…][\"”’')\]]*$")
RECOMMENDATIONS_WORD = re.compile(r"\brecommendations?\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*(?=\s+[\"“‘'(]?[A-Z0-9])|:\s*(?=\n|$)")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "no", "vs", "cf", "e.g", "i.e", "etc"})
_FOLD_PUNCTUATION = str.maketrans("–—‘’“”", "--''\"\"")
MAX_HEADING_WORDS = 14

# Numbered paragraphs: "1. ...", "1) ...", "(1) ...".
NUMBERED = re.compile(r"^(?:\((?P<p>\d{1,3})\)|(?P<n>\d{1,3})[.)])(?:\s+(?P<rest>\S.*))?$")
# Labelled items. A label is followed by its number and then a colon, full stop, dash or space.
_AFTER_NUMBER = r"(?:\s*[:.–—-]\s*|\s+|$)(?P<rest>.*)$"
_FINDING_LABEL = re.compile(
    r"^(?i:(?:key\s+|main\s+)?(?:finding|conclusion))\s+(?P<n>\d{1,3})\b" + _AFTER_NUMBER
)
_RECOMMENDATION_LABEL = re.compile(
    r"^(?:(?i:recommendation)\s+|(?i:rec)\.?\s*|R)(?P<n>\d{1,3})\b" + _AFTER_NUMBER
)


@dataclass(frozen=True, slots=True)
class Line:
    text: str  # stripped
    start: int  # offset of text in the whole document

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)
class ItemMark:
    """A line that opens a numbered item."""

    # "finding", "recommendation" (labelled), or how a bare number is printed: "1.", "1)",
    # "(1)" (a list of one style may hold a sub-list of another)
    kind: str
    number: int
    rest: int  # offset of the text after the number and its punctuation, within the line


class Lines:
    """The document's lines, and the headings its format marked (Markdown, HTML, PDF outline)."""

    def __init__(self, text: str, headings: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.lines = split_lines(text)
        self.headings = headings

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, i: int) -> Line:
        return self.lines[i]

    def is_heading(self, i: int) -> bool:
        text = self.lines[i].text
        if self.headings and text and norm(text) in self.headings:
            return True
        return is_heading(text)

    def block_end(self, first: int, stop: int) -> int:
        """End offset of the last non-blank line in lines[first:stop]."""
        for i in range(stop - 1, first - 1, -1):
            if self.lines[i].text:
                return self.lines[i].end
        return self.lines[first].end

    def first_text(self, index: int) -> int:
        for line in self.lines[index:]:
            if line.text:
                return line.start
        return self.lines[-1].end if self.lines else 0


def split_lines(text: str) -> list[Line]:
    lines: list[Line] = []
    offset = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        lines.append(Line(stripped, offset + lead))
        offset += len(raw) + 1
    return lines


def norm(title: str) -> str:
    """Compare headings loosely: case, dashes, quotes and spacing do not matter."""
    folded = title.casefold().translate(_FOLD_PUNCTUATION)
    return " ".join(re.sub(r"[^\w'\"-]+", " ", folded).split())


def is_heading(text: str) -> bool:
    """A short line that does not end a sentence: a heading, not a paragraph or list item."""
    if not text or not (text[0].isupper() or text[0].isdigit()):
        return False
    if TERMINAL.search(text) or POINT.match(text) or item_mark(text) is not None:
        return False
    return len(text.split()) <= MAX_HEADING_WORDS


def item_mark(text: str) -> ItemMark | None:
    """What numbered item a line opens, if any: labelled first, then a bare number."""
    for kind, pattern in (("finding", _FINDING_LABEL), ("recommendation", _RECOMMENDATION_LABEL)):
        match = pattern.match(text)
        if match:
            return ItemMark(kind, int(match["n"]), match.start("rest"))
    match = NUMBERED.match(text)
    if match:
        number = match["p"] or match["n"]
        rest = match.start("rest") if match["rest"] else len(text)
        style = "(1)" if match["p"] else f"1{text[len(number)]}"
        return ItemMark(style, int(number), rest)
    return None


def is_numbered(kind: str) -> bool:
    return kind in NUMBER_STYLES


NUMBER_STYLES = frozenset({"1.", "1)", "(1)"})


def first_sentence(text: str) -> str:
    for match in SENTENCE_END.finditer(text):
        word = text[: match.start()].rsplit(None, 1)[-1].casefold() if match.start() else ""
        if word.rstrip(".") in _ABBREVIATIONS:
            continue
        return text[: match.end()].strip()
    return text.strip()


def strip_end(sentence: str) -> str:
    return sentence.strip().rstrip(".:;").strip()


def trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def points(body: str) -> tuple[str, ...]:
    """Sub-points ("i) ...", "• ...") without their markers."""
    found: list[str] = []
    for line in body.split("\n"):
        marker = POINT.match(line.strip())
        if marker:
            found.append(line.strip()[marker.end() :].strip())
    return tuple(found)


def lead_lines(body: str) -> list[str]:
    lead: list[str] = []
    for line in body.split("\n"):
        if POINT.match(line.strip()):
            break
        if line.strip():
            lead.append(line.strip())
    return lead


def paragraph_blocks(lines: Sequence[Line], indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Group unnumbered lines into paragraphs: a text line and the sub-points that follow it."""
    blocks: list[tuple[int, int]] = []
    for i in indexes:
        if blocks and POINT.match(lines[i].text):
            blocks[-1] = (blocks[-1][0], i)
        else:
            blocks.append((i, i))
    return blocks
