"""Short excerpts of a passage around the words a query matched, for showing a hit."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from bot.search.text import Stems, iter_terms

MAX_EXCERPT_CHARS = 240
ELLIPSIS = "…"

Segment = tuple[str, bool]  # a run of text, and whether it is a matched word

_CHUNK_RE = re.compile(r"\S+")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Chunk:
    """A white-space separated piece of the passage and the query stems it holds."""

    start: int
    end: int
    stems: frozenset[str]


def _chunks(text: str, matches: list[tuple[int, int, str]]) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    position = 0
    for found in _CHUNK_RE.finditer(text):
        start, end = found.span()
        stems: set[str] = set()
        while position < len(matches) and matches[position][0] < end:
            if matches[position][1] > start:
                stems.add(matches[position][2])
            position += 1
        chunks.append(_Chunk(start, end, frozenset(stems)))
    return chunks


def _densest(chunks: list[_Chunk], width: int) -> tuple[int, int]:
    """Chunk range ``[first, last]`` within ``width`` chars holding the most matches."""
    best = (0, 0, 0, 0)  # distinct stems, matched chunks, first, last
    last = 0
    for first, chunk in enumerate(chunks):
        if not chunk.stems:
            continue
        last = max(last, first)
        while last + 1 < len(chunks) and chunks[last + 1].end - chunk.start <= width:
            last += 1
        inside = chunks[first : last + 1]
        distinct = len(frozenset().union(*(c.stems for c in inside)))
        matched = sum(1 for c in inside if c.stems)
        best = max(best, (distinct, matched, -first, -last))
    return -best[2], -best[3]


def _widen(chunks: list[_Chunk], first: int, last: int, width: int) -> tuple[int, int]:
    """Grow the range a chunk at a time on alternate sides, so the matches sit centred."""
    grew = True
    while grew:
        grew = False
        if first > 0 and chunks[last].end - chunks[first - 1].start <= width:
            first -= 1
            grew = True
        if last + 1 < len(chunks) and chunks[last + 1].end - chunks[first].start <= width:
            last += 1
            grew = True
    return first, last


def _segments(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> list[Segment]:
    segments: list[Segment] = []
    cursor = start
    for span_start, span_end in spans:
        if span_end <= start or span_start >= end or span_start < cursor:
            continue
        if span_start > cursor:
            segments.append((text[cursor:span_start], False))
        segments.append((text[span_start:span_end], True))
        cursor = span_end
    if cursor < end:
        segments.append((text[cursor:end], False))
    return segments


def term_spans(text: str, stems: Stems) -> list[tuple[int, int, str]]:
    """Each indexable word's offsets and stem: worth keeping for text excerpted often."""
    return [(term.start, term.end, term.stem) for term in iter_terms(text, stems)]


def make_excerpt(
    text: str,
    query_stems: Collection[str],
    stems: Stems,
    width: int = MAX_EXCERPT_CHARS,
    spans: list[tuple[int, int, str]] | None = None,
) -> tuple[Segment, ...]:
    """At most ``width`` chars of ``text`` around its densest cluster of query words.

    Cut at word boundaries with "…" marking a cut; matched words (by stem, so "vetted"
    matches "vetting") come as their own segments flagged True. ``spans`` are the text's
    ``term_spans``, when the caller has them already.
    """
    if spans is None:
        spans = term_spans(text, stems)
    matches = [span for span in spans if span[2] in query_stems]
    chunks = _chunks(text, matches)
    if not chunks:
        return ()
    room = width - 2 * len(ELLIPSIS)
    first, last = _densest(chunks, room)
    first, last = _widen(chunks, first, last, room)
    start, end = chunks[first].start, min(chunks[last].end, chunks[first].start + room)
    matched = sorted({(s, e) for s, e, _ in matches})
    segments = _segments(text, start, end, matched)
    if first > 0:
        segments.insert(0, (ELLIPSIS, False))
    if last + 1 < len(chunks) or end < chunks[last].end:
        segments.append((ELLIPSIS, False))
    return _tidy(segments)


def _tidy(segments: list[Segment]) -> tuple[Segment, ...]:
    """Fold white space runs (passages keep their line breaks) and merge plain runs."""
    tidy: list[Segment] = []
    for text, matched in segments:
        text = _SPACE_RE.sub(" ", text)
        if tidy and not matched and not tidy[-1][1]:
            tidy[-1] = (tidy[-1][0] + text, False)
        elif text:
            tidy.append((text, matched))
    return tuple(tidy)
