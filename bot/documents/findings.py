"""A report's numbered findings (or conclusions).

Where they are, in order of preference:

* items labelled "Finding 3", "Key finding 3" or "Conclusion 3", wherever they start;
* numbered paragraphs or headings under a heading that names them ("Findings", "Key
  findings", "Summary of findings", "Conclusions", "Summary of conclusions", "Summary and
  conclusions", "Our findings" ...);
* where the body has no such heading but the contents list one (the Casey Review's "Summary
  and conclusions"), the numbered paragraphs before the recommendations.

A finding's title is its heading line; or the run-in title that goes straight into the first
sentence with no full stop ("... how the Met is run The size of the Met ..."), cut before the
capitalised word that opens that sentence; or else its first sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.documents.contents import Toc
from bot.documents.items import ItemRun, walk_items
from bot.documents.lines import (
    SENTENCE_END,
    TERMINAL,
    Lines,
    first_sentence,
    item_mark,
    strip_end,
)
from bot.model import Finding

FINDINGS_HEADING = re.compile(
    r"^(?:(?:chapter|part|section)\s+\w+[:.]?\s+|\d+(?:\.\d+)*\.?\s+)?"
    r"(?:(?:key|main|principal|overall|our|the|summary of(?: the)?(?: main| key)?)\s+)?"
    r"(?:findings|conclusions)(?:\s+and\s+(?:findings|conclusions|lessons))?"
    r"|summary and (?:findings|conclusions)",
    re.IGNORECASE,
)
# Capitalised words that open a sentence. A run-in title ends before the first of them that
# follows a lower-case word with no punctuation in between.
_SENTENCE_OPENERS = frozenset(
    """The This These That Those There It Its In We Our A An Since When While However But
    Despite Although Over Under Across Many Most Some Too Yet After Before Between During If
    Such Their They He She Every Each Without Within Following Today""".split()
)


@dataclass(frozen=True)
class FoundFindings:
    findings: tuple[Finding, ...]
    spans: tuple[tuple[int, int], ...]
    unreadable: bool  # a place for findings was found, but their numbering did not hold
    heading: str = ""  # the heading they are printed under, when the body has one
    heading_start: int = 0


def find_findings(
    lines: Lines,
    body: int,
    end: int,
    toc: Toc | None,
    part_headings: frozenset[str],
    document_id: str,
) -> FoundFindings:
    """Findings between line `body` (after any contents) and line `end`."""
    run, placed, heading = _locate(lines, body, end, toc, part_headings)
    if run is None or not run.items:
        return FoundFindings((), (), placed)
    if not run.coherent or len(run.items) < 2:
        return FoundFindings((), (), True)
    under = (lines[heading].text, lines[heading].start) if heading is not None else ("", 0)
    findings: list[Finding] = []
    spans: list[tuple[int, int]] = []
    for item in run.items:
        title, body_start = _split_title(lines, item.line, item.start, item.end)
        text = lines.text[body_start : item.end].strip()
        findings.append(Finding(item.number, title, text, document_id))
        spans.append((item.span_start, item.end))
    return FoundFindings(tuple(findings), tuple(spans), False, *under)


def _locate(
    lines: Lines, body: int, end: int, toc: Toc | None, part_headings: frozenset[str]
) -> tuple[ItemRun | None, bool, int | None]:
    """The run of findings, whether the report has a place for them at all, and the line
    of the heading they are printed under."""
    heading = next(
        (
            i
            for i in range(body, end)
            if FINDINGS_HEADING.fullmatch(lines[i].text) and lines.is_heading(i)
        ),
        None,
    )
    labelled = next(
        (i for i in range(body, len(lines)) if _labelled_finding(lines[i].text)), None
    )
    if labelled is not None:
        run = walk_items(lines, labelled, len(lines), "finding", part_headings)
        return run, True, heading if heading is not None and heading < labelled else None
    if heading is not None:
        return walk_items(lines, heading + 1, end, "finding", part_headings), True, heading
    if toc is not None and any(FINDINGS_HEADING.fullmatch(e.title) for e in toc.entries):
        return walk_items(lines, body, end, "finding", part_headings), True, None
    return None, False, None


def _labelled_finding(text: str) -> bool:
    mark = item_mark(text)
    return mark is not None and mark.kind == "finding" and mark.number == 1


def _split_title(lines: Lines, index: int, rest_start: int, limit: int) -> tuple[str, int]:
    """The finding's title and where its body starts (an offset into the text)."""
    line = lines[index]
    rest = lines.text[rest_start : line.end]
    if not rest.strip():
        # "Finding 3" alone on its line: the title is the next line or first sentence.
        following = lines.first_text(index + 1)
        nxt = lines.text[following:limit].split("\n", 1)[0]
        if nxt and not TERMINAL.search(nxt) and len(nxt.split()) <= 14:
            return nxt.strip(), following + len(nxt)
        sentence = first_sentence(lines.text[following:limit])
        return strip_end(sentence), following + len(sentence)
    if not TERMINAL.search(rest):
        return rest.strip(), min(line.end, limit)
    cut = _run_in_title_end(rest)
    if cut is None:
        sentence = first_sentence(rest)
        return strip_end(sentence), rest_start + len(sentence)
    return rest[:cut].strip(), rest_start + cut


def _run_in_title_end(rest: str) -> int | None:
    """Where a title that runs into its body ends: before a sentence opener after a bare word."""
    words = list(re.finditer(r"\S+", rest))
    for k in range(3, len(words)):
        before, word = words[k - 1].group(), words[k].group()
        if word in _SENTENCE_OPENERS and before[-1].isalnum() and before[-1].islower():
            # A real sentence end earlier on means the title was a sentence, not a run-in.
            if SENTENCE_END.search(rest[: words[k].start()]):
                return None
            return words[k].start()
    return None

