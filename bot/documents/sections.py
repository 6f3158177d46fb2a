"""Named spans of a report's text that citations point into: its parts, findings, themes,
recommendations."""

from __future__ import annotations

from collections.abc import Sequence

from bot.documents.findings import FoundFindings
from bot.documents.lines import RECOMMENDATIONS_WORD, Lines, is_heading, norm, trim_end
from bot.documents.recommendations import FoundRecommendations
from bot.model import Section, TocEntry


def report_sections(
    lines: Lines,
    body_start: int | None,
    chapters: Sequence[TocEntry],
    findings: FoundFindings,
    recs: FoundRecommendations | None,
) -> tuple[Section, ...]:
    sections: list[Section] = []
    if body_start is not None and recs is not None:
        sections.extend(_front_parts(lines, chapters, body_start, recs.start))
    named = {norm(s.title) for s in sections}
    if findings.heading and findings.spans and norm(findings.heading) not in named:
        end = findings.spans[-1][1]
        sections.append(Section(findings.heading, findings.heading_start, end))
    for finding, (start, end) in zip(findings.findings, findings.spans, strict=True):
        sections.append(Section(f"Finding {finding.number}: {finding.title}", start, end))
    if recs is not None:
        if recs.heading:
            sections.append(Section(recs.heading, recs.start, recs.end))
        sections.extend(Section(t.title, t.start, t.end) for t in recs.themes)
        sections.extend(
            Section(f"Recommendation {rec.number}", start, end)
            for rec, (start, end) in zip(recs.items, recs.spans, strict=True)
        )
    return tuple(sorted(sections, key=lambda s: (s.start, -s.end)))


def _front_parts(
    lines: Lines, chapters: Sequence[TocEntry], body_start: int, anchor: int
) -> list[Section]:
    """Sections for the parts printed before the recommendations ("Foreword", "Summary").

    A part whose heading line is in the body starts there. Where headings were lost (text
    reproduced without them), the parts between the contents and the recommendations are
    laid out by their page numbers and snapped to the nearest paragraph break.
    """
    anchor_index = next(
        (k for k, c in enumerate(chapters) if RECOMMENDATIONS_WORD.search(c.title)), None
    )
    if not anchor_index or chapters[anchor_index].page is None:
        return []
    parts = [c for c in chapters[:anchor_index] if c.page is not None]
    if not parts:
        return []
    first_page = parts[0].page
    anchor_page = chapters[anchor_index].page
    assert first_page is not None and anchor_page is not None
    span_pages = max(anchor_page - first_page, 1)
    breaks = _paragraph_breaks(lines, body_start, anchor)
    starts: list[int] = []
    for k, part in enumerate(parts):
        assert part.page is not None
        found = _heading_offset(lines, part, body_start, anchor)
        if found is not None:
            starts.append(found)
        elif k == 0:
            starts.append(body_start)
        else:
            share = (part.page - first_page) / span_pages
            estimate = body_start + int(share * (anchor - body_start))
            starts.append(min(breaks, key=lambda b: abs(b - estimate)) if breaks else estimate)
    ends = [*starts[1:], anchor]
    return [
        Section(part.title, start, trim_end(lines.text, start, end))
        for part, start, end in zip(parts, starts, ends, strict=True)
        if end > start
    ]


def _heading_offset(lines: Lines, part: TocEntry, start: int, end: int) -> int | None:
    wanted = {norm(part.title)}
    if part.number:
        wanted.add(norm(f"{part.number} {part.title}"))
    for line in lines.lines:
        if start <= line.start < end and is_heading(line.text) and norm(line.text) in wanted:
            return line.start
    return None


def _paragraph_breaks(lines: Lines, start: int, end: int) -> list[int]:
    """Offsets of lines that open a paragraph (follow a blank line) within [start, end)."""
    return [
        line.start
        for previous, line in zip(lines.lines, lines.lines[1:], strict=False)
        if start < line.start < end and line.text and not previous.text
    ]
