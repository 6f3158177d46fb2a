"""Find a report's table of contents, numbered findings and recommendations by program.

Works on cleaned text (see ``cleaning``). Every rule is a pattern about how reports are
laid out, not a list of this review's headings, so another inquiry's report is read the same way:

* Table of contents: lines "Title ...... 123" (dot leaders of any kind) after a "Contents"
  heading. "Chapter 3: ...", "Part 2 ...", "Annex A. ..." and unnumbered lines ("Foreword") are
  top-level parts; "3.7. Promotion", "9.ii. Bullying", "9.1.2. ..." are sections of the part
  above them. An entry wrapped over two lines is joined. Page numbers never go down through a
  contents list, so a number that breaks the order but fits once a trailing footnote digit or
  two are dropped ("843" between 83 and 85) is repaired.
* Findings: the longest run of paragraphs numbered 1, 2, ... N that comes before the
  recommendations heading. A finding's title is its heading line; when the title runs straight
  into the first sentence of the body with no full stop ("... how the Met is run The size of
  the Met ..."), it ends before the capitalised word that starts that sentence.
* Recommendations: after a heading line that names them ("Fixing the Met – Recommendations"),
  paragraphs numbered 1, 2, ... grouped under theme headings (short heading lines followed by
  numbered recommendations). A number missing from the sequence is filled by the unnumbered
  paragraph(s) just before the next number in the same theme, after the theme's introduction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.model import Finding, Recommendation, ReviewStructure, Section, TocEntry

logger = logging.getLogger(__name__)

_LEADER_ENTRY = re.compile(
    r"^(?P<title>.*?[^\s.…·‥_⋯])\s*(?:(?:[.…·‥_⋯]\s?){2,}|…\s?)\s*(?P<page>\d{1,4})$"
)
_CONTENTS_HEADING = re.compile(r"(?:table of )?contents:?", re.IGNORECASE)
_PART_NUMBER = re.compile(
    r"^(?P<label>(?:Chapter|Part|Annex|Appendix|Section|Volume|Schedule)\s+"
    r"(?:\d+(?:\.\d+)*|[A-Z]|[IVXLC]+))\b\.?\s*[:–—-]?\s*(?P<title>.*)$"
)
_SECTION_NUMBER = re.compile(r"^(?P<number>\d+(?:\.(?:\d+|[ivxlc]+))+)\.?\s+(?P<title>\S.*)$")
_TOP_NUMBER = re.compile(r"^(?P<number>\d+)\.?\s+(?P<title>[A-Z].*)$")
_NUMBERED_PARAGRAPH = re.compile(r"^(?P<number>\d{1,3})\.\s+(?P<rest>\S.*)$")
_POINT = re.compile(r"^(?:(?:[ivxlc]+|[a-z])\)|\([ivxlc]+\)|\([a-z]\)|[•▪◦●‣∙·*–-])\s*(?=\S)")
_TERMINAL = re.compile(r"[.!?:;,…][\"”’')\]]*$")
_RECOMMENDATIONS_WORD = re.compile(r"\brecommendations?\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*(?=\s+[\"“‘'(]?[A-Z0-9])|:\s*(?=\n|$)")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "no", "vs", "cf", "e.g", "i.e", "etc"})
# Capitalised words that open a sentence. A run-in title ends before the first of them that
# follows a lower-case word with no punctuation in between.
_SENTENCE_OPENERS = frozenset(
    """The This These That Those There It Its In We Our A An Since When While However But
    Despite Although Over Under Across Many Most Some Too Yet After Before Between During If
    Such Their They He She Every Each Without Within Following Today""".split()
)
_FOLD_PUNCTUATION = str.maketrans("–—‘’“”", "--''\"\"")
_MAX_HEADING_WORDS = 14
_MAX_NUMBER_GAP = 3


@dataclass(frozen=True)
class _Line:
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class _RawEntry:
    title: str  # as printed, number included
    page: int
    start: int
    end: int


@dataclass(frozen=True)
class _Toc:
    entries: tuple[_RawEntry, ...]
    end_line: int  # index of the first line after the contents


@dataclass(frozen=True)
class _Theme:
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class _Recommendations:
    heading: str
    start: int
    end: int
    items: tuple[Recommendation, ...]
    spans: tuple[tuple[int, int], ...]
    themes: tuple[_Theme, ...]


def extract_structure(text: str, document_id: str) -> tuple[ReviewStructure, tuple[Section, ...]]:
    """Read the findings, recommendations and contents of a report's cleaned text.

    Returns the structure and the named spans (sections) that citations point into. A text
    with none of these (a news report) gives an empty structure and no sections.
    """
    lines = _split_lines(text)
    toc = _find_toc(lines)
    body = toc.end_line if toc else 0
    heading_at = _find_recommendations_heading(lines, body)
    findings_end = heading_at if heading_at is not None else len(lines)
    findings, finding_spans = _find_findings(lines, body, findings_end, text, document_id)
    recs = (
        _find_recommendations(lines, heading_at, text, document_id, _part_headings(toc))
        if heading_at is not None
        else None
    )
    themes = {_norm(t.title) for t in recs.themes} if recs else set()
    chapters = _group_toc(toc.entries, themes) if toc else ()
    sections = _sections(lines, toc, chapters, findings, finding_spans, recs, text)
    structure = ReviewStructure(
        findings=findings, recommendations=recs.items if recs else (), chapters=chapters
    )
    logger.debug(
        "%s: %d findings, %d recommendations, %d parts, %d sections",
        document_id,
        len(findings),
        len(structure.recommendations),
        len(chapters),
        len(sections),
    )
    return structure, sections


# Lines ----------------------------------------------------------------------------------------


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        lines.append(_Line(stripped, offset + lead))
        offset += len(raw) + 1
    return lines


def _norm(title: str) -> str:
    """Compare headings loosely: case, dashes, quotes and spacing do not matter."""
    folded = title.casefold().translate(_FOLD_PUNCTUATION)
    return " ".join(re.sub(r"[^\w'\"-]+", " ", folded).split())


def _is_heading(text: str) -> bool:
    """A short line that does not end a sentence: a heading, not a paragraph or list item."""
    if not text or not (text[0].isupper() or text[0].isdigit()):
        return False
    if _TERMINAL.search(text) or _POINT.match(text) or _NUMBERED_PARAGRAPH.match(text):
        return False
    return len(text.split()) <= _MAX_HEADING_WORDS


# Table of contents ------------------------------------------------------------------------------


def _find_toc(lines: Sequence[_Line]) -> _Toc | None:
    start = _toc_start(lines)
    if start is None:
        return None
    entries: list[_RawEntry] = []
    i = start
    while i < len(lines):
        line = lines[i]
        match = _LEADER_ENTRY.match(line.text)
        if match:
            entries.append(_RawEntry(match["title"], int(match["page"]), line.start, line.end))
        elif line.text and _wraps_onto_next(lines, i):
            nxt = lines[i + 1]
            joined = _LEADER_ENTRY.match(nxt.text)
            assert joined is not None  # _wraps_onto_next checked it
            title = f"{line.text} {joined['title']}"
            entries.append(_RawEntry(title, int(joined["page"]), line.start, nxt.end))
            i += 1
        elif line.text:
            break
        i += 1
    if len(entries) < 2:
        return None
    return _Toc(tuple(_repair_pages(entries)), i)


def _toc_start(lines: Sequence[_Line]) -> int | None:
    for i, line in enumerate(lines):
        if _CONTENTS_HEADING.fullmatch(line.text):
            return i + 1
    # No heading: the first run of three entries in a row is the contents.
    for i in range(len(lines) - 2):
        if all(_looks_like_entry(lines[i + k].text) for k in range(3)):
            return i
    return None


def _looks_like_entry(text: str) -> bool:
    return text[-1:].isdigit() and _LEADER_ENTRY.match(text) is not None


def _wraps_onto_next(lines: Sequence[_Line], i: int) -> bool:
    """A contents entry printed over two lines: no page on the first, no number on the second."""
    if i + 1 >= len(lines):
        return False
    nxt = _LEADER_ENTRY.match(lines[i + 1].text)
    if not nxt or _LEADER_ENTRY.match(lines[i].text):
        return False
    second = nxt["title"]
    return not (_PART_NUMBER.match(second) or _SECTION_NUMBER.match(second))


def _repair_pages(entries: list[_RawEntry]) -> list[_RawEntry]:
    """Undo footnote digits glued onto page numbers ("843" for 84), which break the order."""
    repaired: list[_RawEntry] = []
    for i, entry in enumerate(entries):
        previous = repaired[-1].page if repaired else 0
        later = [e.page for e in entries[i + 1 :]]
        page = entry.page
        if later and page > min(later):
            page = _drop_glued_digits(page, previous, min(later))
            if page != entry.page:
                logger.debug("contents page %d repaired to %d (%s)", entry.page, page, entry.title)
        repaired.append(_RawEntry(entry.title, page, entry.start, entry.end))
    return repaired


def _drop_glued_digits(page: int, low: int, high: int) -> int:
    for divisor in (10, 100):
        candidate = page // divisor
        if candidate and low <= candidate <= high:
            return candidate
    return page


def _group_toc(entries: Sequence[_RawEntry], themes: set[str]) -> tuple[TocEntry, ...]:
    """Nest sections under their part, and recommendation themes under the recommendations."""
    parts: list[tuple[TocEntry, list[TocEntry]]] = []
    in_recommendations = False
    for raw in entries:
        number, title, is_section = _entry_number(raw.title)
        entry = TocEntry(title=title, page=raw.page, number=number)
        is_theme = in_recommendations and number is None and _norm(title) in themes
        if parts and (is_section or is_theme):
            parts[-1][1].append(entry)
            continue
        in_recommendations = number is None and bool(_RECOMMENDATIONS_WORD.search(title))
        parts.append((entry, []))
    return tuple(
        TocEntry(part.title, part.page, part.number, tuple(children)) for part, children in parts
    )


def _entry_number(printed: str) -> tuple[str | None, str, bool]:
    """Split "3.7. Promotion" into ("3.7", "Promotion", is a section)."""
    section = _SECTION_NUMBER.match(printed)
    if section:
        return section["number"], section["title"].strip(), True
    part = _PART_NUMBER.match(printed)
    if part and part["title"]:
        return part["label"], part["title"].strip(), False
    top = _TOP_NUMBER.match(printed)
    if top:
        return top["number"], top["title"].strip(), False
    return None, printed.strip(), False


# Findings -----------------------------------------------------------------------------------------


def _find_recommendations_heading(lines: Sequence[_Line], start: int) -> int | None:
    for i in range(start, len(lines)):
        text = lines[i].text
        if _is_heading(text) and _RECOMMENDATIONS_WORD.search(text):
            return i
    return None


def _numbered_lines(lines: Sequence[_Line], start: int, end: int) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for i in range(start, end):
        match = _NUMBERED_PARAGRAPH.match(lines[i].text)
        if match:
            found.append((i, int(match["number"])))
    return found


def _longest_run(numbered: Sequence[tuple[int, int]]) -> list[int]:
    """Line indexes of the longest sequence numbered 1, 2, ... N, in reading order."""
    best: list[int] = []
    for k, (index, number) in enumerate(numbered):
        if number != 1:
            continue
        run = [index]
        expected = 2
        for later_index, later_number in numbered[k + 1 :]:
            if later_number == expected:
                run.append(later_index)
                expected += 1
        if len(run) > len(best):
            best = run
    return best


def _find_findings(
    lines: Sequence[_Line], start: int, end: int, text: str, document_id: str
) -> tuple[tuple[Finding, ...], tuple[tuple[int, int], ...]]:
    run = _longest_run(_numbered_lines(lines, start, end))
    if len(run) < 2:
        return (), ()
    stops = [*run[1:], end]
    findings: list[Finding] = []
    spans: list[tuple[int, int]] = []
    for number, (first, stop) in enumerate(zip(run, stops, strict=True), start=1):
        span_end = _block_end(lines, first, stop)
        title, body_start = _split_title(lines[first], text, span_end)
        body = text[body_start:span_end].strip()
        findings.append(Finding(number, title, body, document_id))
        spans.append((lines[first].start, span_end))
    return tuple(findings), tuple(spans)


def _block_end(lines: Sequence[_Line], first: int, stop: int) -> int:
    """End offset of the last non-blank line in lines[first:stop]."""
    for i in range(stop - 1, first - 1, -1):
        if lines[i].text:
            return lines[i].end
    return lines[first].end


def _split_title(line: _Line, text: str, limit: int) -> tuple[str, int]:
    """The finding's title and where its body starts (an offset into text)."""
    match = _NUMBERED_PARAGRAPH.match(line.text)
    assert match is not None
    rest_start = line.start + match.start("rest")
    rest = match["rest"]
    if not _TERMINAL.search(rest):
        return rest.strip(), min(line.end, limit)
    cut = _run_in_title_end(rest)
    if cut is None:
        sentence = _first_sentence(rest)
        return _strip_end(sentence), rest_start + len(sentence)
    return rest[:cut].strip(), rest_start + cut


def _run_in_title_end(rest: str) -> int | None:
    """Where a title that runs into its body ends: before a sentence opener after a bare word."""
    words = list(re.finditer(r"\S+", rest))
    for k in range(3, len(words)):
        before, word = words[k - 1].group(), words[k].group()
        if word in _SENTENCE_OPENERS and before[-1].isalnum() and before[-1].islower():
            # A real sentence end earlier on means the title was a sentence, not a run-in.
            if _SENTENCE_END.search(rest[: words[k].start()]):
                return None
            return words[k].start()
    return None


# Recommendations ----------------------------------------------------------------------------


def _part_headings(toc: _Toc | None) -> frozenset[str]:
    """Headings that surely start another part of the report, not a recommendations theme.

    Numbered parts ("Chapter 1: ...", "Annex A. ...") and the unnumbered parts listed before
    the recommendations; unnumbered entries after them may be themes, so they are left out.
    """
    if toc is None:
        return frozenset()
    headings: set[str] = set()
    before_recommendations = True
    for entry in toc.entries:
        number, title, is_section = _entry_number(entry.title)
        if number is None and _RECOMMENDATIONS_WORD.search(title):
            before_recommendations = False
        elif number is not None and not is_section:
            headings.update({_norm(entry.title), _norm(title)})
        elif number is None and before_recommendations:
            headings.add(_norm(title))
    return frozenset(headings)


def _find_recommendations(
    lines: Sequence[_Line],
    heading_at: int,
    text: str,
    document_id: str,
    part_headings: frozenset[str],
) -> _Recommendations | None:
    walker = _RecommendationWalker(lines, text, document_id, part_headings)
    walker.walk(heading_at + 1)
    if not walker.items:
        return None
    end = walker.end
    # A theme runs until the next theme's heading; the last one until the last recommendation.
    theme_ends = [start for _, start in walker.themes[1:]] + [end]
    themes = tuple(
        _Theme(title, start, _trim_end(text, start, theme_end))
        for (title, start), theme_end in zip(walker.themes, theme_ends, strict=True)
    )
    return _Recommendations(
        heading=lines[heading_at].text,
        start=lines[heading_at].start,
        end=end,
        items=tuple(walker.items),
        spans=tuple(walker.spans),
        themes=themes,
    )


class _RecommendationWalker:
    """Reads the recommendations part line by line, keeping theme and numbering state."""

    def __init__(
        self,
        lines: Sequence[_Line],
        text: str,
        document_id: str,
        part_headings: frozenset[str] = frozenset(),
    ) -> None:
        self.lines = lines
        self.part_headings = part_headings
        self.text = text
        self.document_id = document_id
        self.items: list[Recommendation] = []
        self.spans: list[tuple[int, int]] = []
        self.themes: list[tuple[str, int]] = []
        self.end = 0
        self._theme = ""
        self._open: tuple[int, int] | None = None  # (number, first line index)
        self._pending: list[int] = []  # unnumbered lines since the theme heading

    def walk(self, start: int) -> None:
        """Read from line `start` to the first heading that no recommendation follows."""
        stop = len(self.lines)
        for i in range(start, len(self.lines)):
            text = self.lines[i].text
            numbered = _NUMBERED_PARAGRAPH.match(text)
            if numbered and self._accepts(int(numbered["number"])):
                self._close(i)
                self._fill_gap(int(numbered["number"]))
                self._open = (int(numbered["number"]), i)
            elif _is_heading(text):
                if _norm(text) not in self.part_headings and self._heads_recommendations(i):
                    self._start_theme(i)
                elif self.items or self._open:
                    stop = i  # the next part of the report begins
                    break
            elif text and self._open is None and self._theme:
                self._pending.append(i)
        self._close(stop)
        if self.items:
            self.end = max(end for _, end in self.spans)

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
        return expected <= number <= expected + _MAX_NUMBER_GAP

    def _heads_recommendations(self, i: int) -> bool:
        """A theme heading is followed by a numbered recommendation before the next heading."""
        expected = self._expected()
        for line in self.lines[i + 1 :]:
            numbered = _NUMBERED_PARAGRAPH.match(line.text)
            if numbered and expected <= int(numbered["number"]) <= expected + _MAX_NUMBER_GAP:
                return True
            if _is_heading(line.text):
                return False
        return False

    def _close(self, stop: int) -> None:
        if self._open is None:
            return
        number, first = self._open
        self._open = None
        end = _block_end(self.lines, first, stop)
        match = _NUMBERED_PARAGRAPH.match(self.lines[first].text)
        assert match is not None
        start = self.lines[first].start + match.start("rest")
        self._add(number, start, end, inferred=False, span_start=self.lines[first].start)
        self._pending = []

    def _fill_gap(self, number: int) -> None:
        """Give the missing numbers before `number` to the unnumbered paragraphs just before it."""
        missing = number - self._expected()
        if missing <= 0:
            return
        blocks = _paragraph_blocks(self.lines, self._pending)
        if len(blocks) < missing:
            logger.warning(
                "recommendation numbers %d-%d missing and no unnumbered text to give them",
                number - missing,
                number - 1,
            )
            return
        for offset, (first, last) in enumerate(blocks[-missing:]):
            start, end = self.lines[first].start, self.lines[last].end
            self._add(number - missing + offset, start, end, inferred=True)
        self._pending = []

    def _add(
        self, number: int, start: int, end: int, *, inferred: bool, span_start: int | None = None
    ) -> None:
        """Record a recommendation; its section starts at its number when it has one."""
        body = self.text[start:end].strip()
        self.items.append(
            Recommendation(
                number=number,
                title=_recommendation_title(body),
                text=body,
                theme=self._theme,
                points=_points(body),
                document_id=self.document_id,
                number_inferred=inferred,
            )
        )
        self.spans.append((start if span_start is None else span_start, end))


def _paragraph_blocks(lines: Sequence[_Line], indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Group unnumbered lines into paragraphs: a text line and the sub-points that follow it."""
    blocks: list[tuple[int, int]] = []
    for i in indexes:
        if blocks and _POINT.match(lines[i].text):
            blocks[-1] = (blocks[-1][0], i)
        else:
            blocks.append((i, i))
    return blocks


def _recommendation_title(body: str) -> str:
    """A recommendation's title is its first sentence, without the closing punctuation.

    When a recommendation opens straight with the lead-in to its sub-points ("... should
    include:"), that lead-in is its first sentence and so its title.
    """
    return _strip_end(_first_sentence("\n".join(_lead_lines(body))))


def _lead_lines(body: str) -> list[str]:
    lead: list[str] = []
    for line in body.split("\n"):
        if _POINT.match(line.strip()):
            break
        if line.strip():
            lead.append(line.strip())
    return lead


def _points(body: str) -> tuple[str, ...]:
    """Sub-points ("i) ...", "• ...") without their markers."""
    points: list[str] = []
    for line in body.split("\n"):
        marker = _POINT.match(line.strip())
        if marker:
            points.append(line.strip()[marker.end() :].strip())
    return tuple(points)


def _first_sentence(text: str) -> str:
    for match in _SENTENCE_END.finditer(text):
        word = text[: match.start()].rsplit(None, 1)[-1].casefold() if match.start() else ""
        if word.rstrip(".") in _ABBREVIATIONS:
            continue
        return text[: match.end()].strip()
    return text.strip()


def _strip_end(sentence: str) -> str:
    return sentence.strip().rstrip(".:;").strip()


def _trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


# Sections -------------------------------------------------------------------------------------


def _sections(
    lines: Sequence[_Line],
    toc: _Toc | None,
    chapters: Sequence[TocEntry],
    findings: Sequence[Finding],
    finding_spans: Sequence[tuple[int, int]],
    recs: _Recommendations | None,
    text: str,
) -> tuple[Section, ...]:
    sections: list[Section] = []
    if toc is not None:
        body_start = _first_text_offset(lines, toc.end_line)
        first_anchor = recs.start if recs else None
        sections.extend(_front_parts(lines, toc, chapters, body_start, first_anchor, text))
    for finding, (start, end) in zip(findings, finding_spans, strict=True):
        sections.append(Section(f"Finding {finding.number}: {finding.title}", start, end))
    if recs is not None:
        sections.append(Section(recs.heading, recs.start, recs.end))
        sections.extend(Section(t.title, t.start, t.end) for t in recs.themes)
        sections.extend(
            Section(f"Recommendation {rec.number}", start, end)
            for rec, (start, end) in zip(recs.items, recs.spans, strict=True)
        )
    return tuple(sorted(sections, key=lambda s: (s.start, -s.end)))


def _first_text_offset(lines: Sequence[_Line], index: int) -> int:
    for line in lines[index:]:
        if line.text:
            return line.start
    return lines[-1].end if lines else 0


def _front_parts(
    lines: Sequence[_Line],
    toc: _Toc,
    chapters: Sequence[TocEntry],
    body_start: int,
    anchor: int | None,
    text: str,
) -> list[Section]:
    """Sections for the parts printed before the recommendations ("Foreword", "Summary").

    A part whose heading line is in the body starts there. Where headings were lost (text
    reproduced without them), the parts between the contents and the recommendations are
    laid out by their page numbers and snapped to the nearest paragraph break.
    """
    if anchor is None:
        return []
    anchor_index = next(
        (k for k, c in enumerate(chapters) if _RECOMMENDATIONS_WORD.search(c.title)), None
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
        Section(part.title, start, _trim_end(text, start, end))
        for part, start, end in zip(parts, starts, ends, strict=True)
        if end > start
    ]


def _heading_offset(lines: Sequence[_Line], part: TocEntry, start: int, end: int) -> int | None:
    wanted = {_norm(part.title)}
    if part.number:
        wanted.add(_norm(f"{part.number} {part.title}"))
    for line in lines:
        if start <= line.start < end and _is_heading(line.text) and _norm(line.text) in wanted:
            return line.start
    return None


def _paragraph_breaks(lines: Sequence[_Line], start: int, end: int) -> list[int]:
    """Offsets of lines that open a paragraph (follow a blank line) within [start, end)."""
    return [
        line.start
        for previous, line in zip(lines, lines[1:], strict=False)
        if start < line.start < end and line.text and not previous.text
    ]
