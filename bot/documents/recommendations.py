"""A report's numbered recommendations, with their themes and sub-points.

They follow a heading that names them ("Recommendations", "List of recommendations",
"Summary of recommendations", "Fixing the Met – Recommendations"), or, with no such heading,
start at an item labelled "Recommendation 1" / "R1." / "Rec. 1". Items are numbered
paragraphs or headings, or labelled; theme headings sit between them. A number missing from
the sequence is filled by the unnumbered paragraph(s) just before the next number in the same
theme, after the theme's introduction (the Casey Review's recommendation 11).

A recommendation's title is its heading line when it has one ("R3. Safer stairs" followed by
its text), else its first sentence, or the lead-in before its sub-points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.documents.items import Item, ItemRun, Theme, walk_items
from bot.documents.lines import (
    MAX_HEADING_WORDS,
    RECOMMENDATIONS_WORD,
    TERMINAL,
    Lines,
    first_sentence,
    item_mark,
    lead_lines,
    points,
    strip_end,
)
from bot.model import Recommendation

RECOMMENDATIONS_HEADING = re.compile(
    r"(?:.*\S\s+[–—-]\s+|(?:chapter|part|section)\s+[\w-]+[:.]?\s+|\d+(?:\.\d+)*\.?\s+)?"
    r"(?:(?:list|summary) of (?:the )?|our |the |key |main )?recommendations",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FoundRecommendations:
    heading: str  # the heading line, or "" when the items had none
    heading_line: int  # its index, or the first item's
    start: int
    end: int
    items: tuple[Recommendation, ...]
    spans: tuple[tuple[int, int], ...]
    themes: tuple[Theme, ...]


def find_recommendations(
    lines: Lines, body: int, part_headings: frozenset[str], document_id: str
) -> tuple[FoundRecommendations | None, bool]:
    """The recommendations, and whether there was a list whose numbering did not hold."""
    unreadable = False
    for i in _candidate_headings(lines, body):
        run = walk_items(lines, i + 1, len(lines), "recommendation", part_headings, True)
        if run.items and run.coherent:
            return _found(lines, run, i, lines[i].text, document_id), False
        unreadable = unreadable or bool(run.items)
    first = next((i for i in range(body, len(lines)) if _labelled_first(lines[i].text)), None)
    if first is not None:
        run = walk_items(lines, first, len(lines), "recommendation", part_headings, True)
        if run.coherent:
            return _found(lines, run, first, "", document_id), False
        unreadable = True
    return None, unreadable


def _candidate_headings(lines: Lines, body: int) -> list[int]:
    """Headings that name the recommendations: those naming nothing else first
    ("Recommendations", "Fixing the Met – Recommendations"), then any heading with the word
    ("Conclusions and recommendations")."""
    named = [
        i
        for i in range(body, len(lines))
        if RECOMMENDATIONS_WORD.search(lines[i].text)
        and lines.is_heading(i)
        and item_mark(lines[i].text) is None
    ]
    exact = [i for i in named if RECOMMENDATIONS_HEADING.fullmatch(lines[i].text)]
    return exact + [i for i in named if i not in exact]


def _labelled_first(text: str) -> bool:
    mark = item_mark(text)
    return mark is not None and mark.kind == "recommendation" and mark.number == 1


def _found(
    lines: Lines, run: ItemRun, heading_line: int, heading: str, document_id: str
) -> FoundRecommendations:
    items = tuple(_recommendation(lines, item, document_id) for item in run.items)
    spans = tuple((item.span_start, item.end) for item in run.items)
    start = lines[heading_line].start if heading else run.items[0].span_start
    return FoundRecommendations(heading, heading_line, start, run.end, items, spans, run.themes)


def _recommendation(lines: Lines, item: Item, document_id: str) -> Recommendation:
    body = lines.text[item.start : item.end].strip()
    return Recommendation(
        number=item.number,
        title=_title(lines, item, body),
        text=body,
        theme=item.theme,
        points=points(body),
        document_id=document_id,
        number_inferred=item.inferred,
    )


def _title(lines: Lines, item: Item, body: str) -> str:
    """The heading line when the item has one, else the first sentence or lead-in."""
    if not item.inferred:
        own_line = lines.text[item.start : lines[item.line].end].strip()
        after = body[len(own_line) :].strip()
        heading_like = not TERMINAL.search(own_line) and len(own_line.split()) <= MAX_HEADING_WORDS
        if own_line and after and heading_like and own_line[0].isupper():
            return own_line
    return strip_end(first_sentence("\n".join(lead_lines(body))))
