"""Find a report's table of contents, numbered findings and recommendations by program.

Works on cleaned text (see ``cleaning``). Every rule is a pattern about how reports are laid
out, not a list of one review's headings, so another inquiry's report is read the same way.
The rules live by idea: ``contents`` (the printed table of contents), ``items`` (a numbered
run of items), ``findings``, ``recommendations``, ``sections`` (the spans citations name).

Where a document's format carries structure (Markdown and HTML headings, a PDF's outline),
its reader passes it in as :class:`FormatHints` and it is used rather than guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.documents.contents import find_toc, group_toc, part_headings
from bot.documents.findings import find_findings
from bot.documents.lines import Lines, norm
from bot.documents.recommendations import find_recommendations
from bot.documents.sections import report_sections
from bot.model import ReviewStructure, Section, TocEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FormatHints:
    """What a document's format says about its layout."""

    headings: tuple[str, ...] = ()  # heading lines, as they appear in the text
    contents: tuple[TocEntry, ...] = ()  # an outline or a list of links to its parts


def extract_structure(
    text: str, document_id: str, hints: FormatHints | None = None
) -> tuple[ReviewStructure, tuple[Section, ...]]:
    """Read the findings, recommendations and contents of a report's cleaned text.

    Returns the structure and the named spans (sections) that citations point into. A text
    with none of these (a news report) gives an empty structure and no sections.
    """
    hints = hints or FormatHints()
    lines = Lines(text, frozenset(norm(h) for h in hints.headings))
    toc = find_toc(lines.lines)
    body = toc.end_line if toc else 0
    parts = part_headings(toc, hints.contents)
    recs, recs_unreadable = find_recommendations(lines, body, parts, document_id)
    findings_end = recs.heading_line if recs else len(lines)
    findings = find_findings(lines, body, findings_end, toc, parts, document_id)
    themes = {norm(t.title) for t in recs.themes} if recs else set()
    chapters = hints.contents or (group_toc(toc.entries, themes) if toc else ())
    body_start = lines.first_text(toc.end_line) if toc else None
    sections = report_sections(lines, body_start, chapters, findings, recs)
    unreadable = {"findings"} if findings.unreadable else set()
    if recs_unreadable and recs is None:
        unreadable.add("recommendations")
    structure = ReviewStructure(
        findings=findings.findings,
        recommendations=recs.items if recs else (),
        chapters=chapters,
        unreadable=frozenset(unreadable),
    )
    logger.debug(
        "%s: %d findings, %d recommendations, %d parts, %d sections",
        document_id,
        len(structure.findings),
        len(structure.recommendations),
        len(chapters),
        len(sections),
    )
    return structure, sections
