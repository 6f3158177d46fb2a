"""Text handling for search: word tokens, stems, sentences and quotable passages.

Everything here is deterministic and depends only on its input, so an index built
from the same documents with the same ``TOKENIZER_VERSION`` is the same index.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import Stemmer

from bot.model import Document

# Bump when tokens or passages change for the same text: cached indexes key on it.
TOKENIZER_VERSION = "4"

MAX_PASSAGE_CHARS = 450
MAX_PASSAGE_SENTENCES = 3
TARGET_PASSAGE_CHARS = 200  # tuned on reader questions: 150 to 300 all do about as well
_SHORT_PASSAGE_CHARS = 200

# Standard English function words plus the words readers wrap questions in ("can you
# tell me what ..."): none of them says what a passage is about.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't
    do does doesn't doing don't done down during each either etc few for from further get
    got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it'd it'll
    it's its itself just let let's may me might more most must mustn't my myself no nor not
    of off on once only or other others our ours ourselves out over own please same shall
    shan't she she'd she'll she's should shouldn't so some such than that that'd that's the
    their theirs them themselves then there there's these they they'd they'll they're
    they've this those through to too under until up upon us very was wasn't we we'd we'll
    we're we've were weren't what what's whatever when when's where where's whether which
    while who who'd who's whom whose why why's will with won't would wouldn't yes yet you
    you'd you'll you're you've your yours yourself yourselves
    actually anything explain tell really something many much
    """.split()
)

# Forms the Snowball stemmer leaves apart although readers mean the same verb:
# "What did Rape Crisis say" should meet "..., said the review".
_IRREGULAR = {"said": "say", "says": "say", "saying": "say"}

# One char for one char, so offsets in the folded text are offsets in the original.
# "_" becomes a space: it joins no English words and keeps the word pattern one class.
_FOLD = str.maketrans(
    {"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "“": '"', "”": '"', "„": '"',
     "«": '"', "»": '"', "_": " "}
)
_HYPHENS = "-\u2010\u2011"

# Combining marks are not \w to Python's re, yet Indic vowel signs and Hebrew or Arabic
# points sit inside words ("पुलिस"): letters, digits and these marks make a word.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0dff\u0e31-\u0e4e\u0eb1-\u0ecd\u1ab0-\u1aff"
    "\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_CHARS = rf"\w[\w{_MARKS}]*"  # applied to folded text, which has no "_"
_PART = rf"{_CHARS}(?:'{_CHARS})*"
# A decimal or grouped number ("0.7", "9,600"), else a word whose hyphenated parts stay
# together so the compound can be indexed as well as its parts.
_TOKEN_RE = re.compile(rf"\d+(?:[.,]\d+)+|{_PART}(?:[{_HYPHENS}]{_PART})*")
_ACRONYM_PLURAL_RE = re.compile(r"[A-Z]{2,}s")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")


class Analysis(NamedTuple):
    words: tuple[str, ...]  # content words (stop words dropped)
    stems: tuple[str, ...]
    plain: str  # the word as shared-quotation spotting compares it


class Stems:
    """Snowball English stemming and word splitting, memoised: corpora repeat words.

    One instance is meant to be shared by everything tokenising the same texts; each memo
    is dropped when it grows past ``limit`` entries so a long-running bot stays bounded.
    """

    def __init__(self, limit: int = 1_000_000) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._memo: dict[str, str] = {}
        self._forms: dict[str, tuple[str, ...]] = {}
        self._analyses: dict[str, Analysis] = {}
        self._limit = limit

    def stem(self, word: str) -> str:
        stem = self._memo.get(word)
        if stem is None:
            if len(self._memo) >= self._limit:
                self._memo.clear()
            stem = _IRREGULAR.get(word) or self._stemmer.stemWord(word)
            self._memo[word] = stem
        return stem

    def forms(self, raw: str) -> tuple[str, ...]:
        """The lower-case words one written token gives (see :func:`_word_forms`)."""
        forms = self._forms.get(raw)
        if forms is None:
            if len(self._forms) >= self._limit:
                self._forms.clear()
            forms = tuple(_word_forms(raw))
            self._forms[raw] = forms
        return forms

    def analysis(self, raw: str) -> Analysis:
        """What indexing needs of one written token: content words, their stems, plain word."""
        found = self._analyses.get(raw)
        if found is None:
            if len(self._analyses) >= self._limit:
                self._analyses.clear()
            forms = self.forms(raw)
            words = tuple(w for w in forms if w and w not in STOP_WORDS)
            # "over-stuffed" and "overstuffed" should read alike: the joined form is plain.
            found = Analysis(words, tuple(self.stem(w) for w in words), forms[-1])
            self._analyses[raw] = found
        return found


@dataclass(frozen=True)
class Term:
    """One indexable word: its lower-case surface form and its stem."""

    word: str
    stem: str
    start: int
    end: int


def fold(text: str) -> str:
    """Typographic apostrophes and quotes folded to plain ones, offsets unchanged."""
    return text.translate(_FOLD)


def _word_forms(raw: str) -> list[str]:
    """The lower-case forms one raw match contributes: hyphen parts, then the compound."""
    if not raw.isascii():
        raw = _fold_accents(unicodedata.normalize("NFKC", raw))
    if _ACRONYM_PLURAL_RE.fullmatch(raw):
        raw = raw[:-1]  # "BCUs" is the plural of "BCU", not a word ending in "us"
    word = raw.lower()
    if _NUMBER_RE.fullmatch(word):
        return [word.replace(",", "")]
    parts = [p for p in re.split(f"[{_HYPHENS}]", word) if p]
    forms = [_strip_possessive(p) for p in parts]
    if len(parts) > 1 and all(p.isalpha() for p in parts):
        forms.append("".join(forms))
    return forms


def _fold_accents(word: str) -> str:
    """"café" reads as "cafe" (readers often type without accents), but only for words
    that become plain ASCII: other scripts need their combining marks."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return folded if folded.isascii() else word


def _strip_possessive(word: str) -> str:
    if word.endswith("'s"):
        return word[:-2]
    return word.rstrip("'")


def iter_terms(text: str, stems: Stems, *, keep_stop_words: bool = False) -> Iterator[Term]:
    """Every indexable word of ``text`` with the offsets of the written word it is from."""
    for match in _TOKEN_RE.finditer(fold(text)):
        for word in stems.forms(match.group()):
            if word and (keep_stop_words or word not in STOP_WORDS):
                yield Term(word, stems.stem(word), match.start(), match.end())


def content_words(text: str, stems: Stems | None = None) -> list[str]:
    """The lower-case content words of ``text`` (unstemmed), in order."""
    splitter: Callable[[str], Sequence[str]] = stems.forms if stems else _word_forms
    return [
        word
        for raw in _TOKEN_RE.findall(fold(text))
        for word in splitter(raw)
        if word and word not in STOP_WORDS
    ]


def tokenize(text: str, stems: Stems | None = None) -> list[str]:
    """Lower-case stems of the content words of ``text``, in order.

    Unicode-aware; numbers stay ("50%" gives "50", "9,600" gives "9600"); hyphenated
    words give their parts and the joined compound; English stop words are dropped.
    Pass a shared :class:`Stems` when tokenising much text: it memoises the work.
    """
    stemmer = stems or Stems()
    return [stemmer.stem(word) for word in content_words(text, stemmer)]


def plain_words(text: str, stems: Stems | None = None) -> list[str]:
    """All words lower-cased, stop words kept, unstemmed: for spotting shared quotations."""
    return [analysis.plain for analysis in passage_words(text, stems or Stems())]


def raw_tokens(text: str) -> list[str]:
    """The written tokens of ``text`` (see :meth:`Stems.analysis` for what each gives)."""
    return _TOKEN_RE.findall(fold(text))


def passage_words(text: str, stems: Stems) -> list[Analysis]:
    """Every written token of ``text``, analysed for indexing (memoised per token)."""
    known = stems._analyses.get  # the hot loop of indexing: skip a method call per word
    return [known(raw) or stems.analysis(raw) for raw in _TOKEN_RE.findall(fold(text))]


# --- sentences --------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr sir st prof rev revd gen col capt lt sgt insp supt cllr hon
    jan feb mar apr jun jul aug sep sept oct nov dec approx cf vs etc al e.g i.e eg ie
    """.split()
)
# Abbreviations that only ever precede a number: "No. 10", "pp. 4", "para. 3.2".
_NUMBER_ABBREVIATIONS = frozenset("no nos p pp para paras ch fig vol".split())
# A sentence may end at . ! ? or an ellipsis, then closing quotes or brackets and a
# stray footnote number ('told me:”8'), then white space, then (perhaps after an
# opening quote) the first character of the next sentence, captured for a case check.
_BOUNDARY_RE = re.compile(
    r"""(?:[.!?]+|…)["'”’»)\]]*(?:(?<=["'”’»)\]])\d{1,3})?(?=\s+["'“‘«(\[•]?(\w))"""
)
_ENUMERATOR_RE = re.compile(
    r"""\s*(?:[•·*-]\s*)?(?:\d+(?:\.\d+)*(?:\.[ivx]{1,5})?|[ivx]{1,5}|[a-z])[.)]?""",
    re.IGNORECASE,
)
_WORD_BEFORE_RE = re.compile(r"([\w.]+)\.$")
_DOTTED_ACRONYM_RE = re.compile(r"(?:[a-z]\.)+[a-z]")


def _is_false_boundary(candidate: str, next_char: str) -> bool:
    """Whether ``candidate`` (a sentence so far, ending in a full stop) goes on."""
    if _ENUMERATOR_RE.fullmatch(candidate):
        return True  # "1." or "9.ii." opening a numbered item
    if not candidate.endswith("."):
        return False
    before = _WORD_BEFORE_RE.search(candidate)
    if before is None:
        return False
    word = before.group(1).lower()
    if word in _ABBREVIATIONS:
        return True
    if word in _NUMBER_ABBREVIATIONS:
        return next_char.isdigit()
    # A lone initial ("J. Smith") or a dotted acronym ("U.K.") rarely ends a sentence.
    return (len(word) == 1 and word.isalpha()) or bool(_DOTTED_ACRONYM_RE.fullmatch(word))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the sentences of one paragraph, white space trimmed."""
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    for match in _BOUNDARY_RE.finditer(text):
        end = match.end()
        next_char = match.group(1)
        if end <= start or not (next_char.isupper() or next_char.isdigit()):
            continue
        if _is_false_boundary(text[start:end], next_char):
            continue
        spans.append((start, end))
        start = _skip_space(text, end)
    tail_end = len(text.rstrip())
    if start < tail_end:
        spans.append((start, tail_end))
    return spans


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


# --- paragraphs and passages ------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    """A few sentences of one document, short enough to quote."""

    id: int
    document_id: str
    text: str
    section: str | None
    start: int  # offset of the passage in the document's text
    # The passage introducing a list ("... we have applied four tests."): searched with
    # the list's passage, which would otherwise not say what the list is of.
    lead_in: str = ""

    @property
    def searchable(self) -> str:
        return f"{self.lead_in}\n{self.text}" if self.lead_in else self.text


_TERMINAL_RE = re.compile(r"""[.!?…:;]["'”’»)\]]*\d{0,3}$""")
_LIST_LINE_RE = re.compile(r"""\s*(?:[•·*▪●◦–-]\s+|\(?[ivx]+\)\s|\(?[a-z]\)\s)""", re.IGNORECASE)
# Table-of-contents lines: a title, a run of leader dots, a page number.
_TOC_LINE_RE = re.compile(r"(?:…\s*[….]|\.{4,})[….\s]*\d+\s*$")
_MAX_HEADING_CHARS = 160


@dataclass(frozen=True)
class _Block:
    """A paragraph (soft-wrapped lines joined) with its offset in the document."""

    start: int
    text: str
    after_blank: bool = True  # a blank line (or the document start) comes before it

    @property
    def is_heading(self) -> bool:
        return (
            len(self.text) <= _MAX_HEADING_CHARS
            and not _TERMINAL_RE.search(self.text)
            and not self.is_list_item
        )

    @property
    def is_list_item(self) -> bool:
        return bool(_LIST_LINE_RE.match(self.text))


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Each line's stripped text and the offset where it starts ("" for blank lines)."""
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        yield offset + (len(line) - len(line.lstrip())), stripped
        offset += len(line)


def _paragraphs(text: str) -> list[_Block]:
    """Paragraphs of a document: lines joined where the next line starts in lower case.

    Extracted text often wraps a sentence over lines ("I completely understand why /
    they feel that way."); a line that starts a capitalised sentence, a number or a
    bullet starts a new paragraph, as does a blank line.
    """
    blocks: list[_Block] = []
    start: int | None = None
    parts: list[str] = []
    after_blank = True
    for line_start, line in _lines(text):
        if not line:
            if start is not None:
                blocks.append(_Block(start, " ".join(parts), after_blank))
                after_blank = True
            start, parts = None, []
            continue
        if start is not None and line[0].islower() and not _LIST_LINE_RE.match(line):
            parts.append(line)
            continue
        if start is not None:
            blocks.append(_Block(start, " ".join(parts), after_blank))
            after_blank = False
        start, parts = line_start, [line]
    if start is not None:
        blocks.append(_Block(start, " ".join(parts), after_blank))
    return _without_contents(blocks)


def _without_contents(blocks: list[_Block]) -> list[_Block]:
    """Drop table-of-contents lines, with the title line or half-entry just above one."""
    kept: list[_Block] = []
    above_kept = False  # whether the block just above was kept
    for block in blocks:
        if not _TOC_LINE_RE.search(block.text):
            kept.append(block)
            above_kept = True
            continue
        if above_kept and kept[-1].is_heading and not block.after_blank:
            kept.pop()  # "Contents", or an entry's first line wrapped before its dots
        above_kept = False
    return kept


def _chunks(block: _Block) -> Iterator[tuple[int, str]]:
    """Consecutive sentences of a paragraph packed into passages, never split inside."""
    spans = split_sentences(block.text)
    for first, last in _pack([end - start for start, end in spans]):
        yield _chunk_of(block, spans[first:last])


def _fits_passage(lengths: list[int]) -> bool:
    total = sum(lengths) + len(lengths) - 1
    if len(lengths) == 1:
        return True  # one over-long sentence stays whole
    if total > MAX_PASSAGE_CHARS:
        return False
    # Very short sentences ("She will. They will. I will.") may share a passage.
    limit = MAX_PASSAGE_SENTENCES if total > _SHORT_PASSAGE_CHARS else 2 * MAX_PASSAGE_SENTENCES
    return len(lengths) <= limit


def _pack(lengths: list[int]) -> list[tuple[int, int]]:
    """Group sentences into passages that fit, each as near the target length as can be.

    Greedy packing leaves stubs like "Complainants are not believed." on their own and
    makes long passages that dilute a match; a small dynamic programme (paragraphs have
    tens of sentences) minimises the squared distance from the target instead.
    """
    count = len(lengths)
    # best[i] = (cost, previous cut) for the first i sentences
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * count
    for end in range(1, count + 1):
        for start in range(end - 1, -1, -1):
            group = lengths[start:end]
            if not _fits_passage(group):
                break
            size = sum(group) + len(group) - 1
            cost = best[start][0] + (size - TARGET_PASSAGE_CHARS) ** 2
            if cost < best[end][0]:
                best[end] = (cost, start)
    groups: list[tuple[int, int]] = []
    end = count
    while end > 0:
        start = best[end][1]
        groups.append((start, end))
        end = start
    return groups[::-1]


def _chunk_of(block: _Block, spans: list[tuple[int, int]]) -> tuple[int, str]:
    start, end = spans[0][0], spans[-1][1]
    return _source_offset(block, start), block.text[start:end]


def _source_offset(block: _Block, index: int) -> int:
    # Joining wrapped lines can shorten the white space between them, so the offset in
    # the document is approximate after a soft wrap; it only has to find the section.
    return block.start + index


@dataclass(frozen=True)
class _Piece:
    start: int
    text: str
    lead_in: str = ""


def _grouped(blocks: list[_Block]) -> Iterator[_Piece]:
    """Passages of a document: headings join what follows them, list lines group."""
    pending: list[_Block] = []  # headings waiting for their first paragraph
    items: list[_Block] = []  # consecutive list lines
    lead_in = ""  # the sentence introducing the list being gathered
    previous = ""  # the passage just emitted, if it was prose
    for block in blocks:
        if block.is_list_item and _fits(items, block):
            items.append(block)
            continue
        if items:
            yield from _emit(pending, _joined(items), lead_in)
            pending, items = [], []
        if block.is_list_item:
            lead_in = "" if pending else (lead_in if previous == "" else previous)
            items.append(block)
            previous = ""
            continue
        lead_in = ""
        if block.is_heading and sum(len(b.text) for b in pending) < _MAX_HEADING_CHARS:
            pending.append(block)
            previous = ""
            continue
        for piece in _emit(pending, block, ""):
            previous = piece.text
            yield piece
        pending = []
    if items:
        yield from _emit(pending, _joined(items), lead_in)
    elif pending:
        yield _Piece(pending[0].start, "\n".join(b.text for b in pending))


def _fits(items: list[_Block], block: _Block) -> bool:
    return bool(items) and sum(len(b.text) + 1 for b in items) + len(block.text) <= (
        MAX_PASSAGE_CHARS
    )


def _joined(items: list[_Block]) -> _Block:
    return _Block(items[0].start, "\n".join(b.text for b in items))


def _emit(headings: list[_Block], block: _Block, lead_in: str) -> Iterator[_Piece]:
    if block.is_list_item and "\n" in block.text:
        chunks: Iterator[tuple[int, str]] = iter([(block.start, block.text)])
    else:
        chunks = _chunks(block)
    first = True
    for start, text in chunks:
        if first and headings:
            # A heading alone says little and, being short, would outrank real
            # paragraphs; it belongs to the passage it introduces.
            heading = "\n".join(h.text for h in headings)
            yield _Piece(headings[0].start, f"{heading}\n{text}", lead_in)
        else:
            yield _Piece(start, text, lead_in)
        first = False


def split_passages(doc: Document, first_id: int = 0) -> list[Passage]:
    """The document cut into passages of one to three sentences (at most ~450 chars).

    Passages stay within a paragraph and end at sentence ends; one over-long sentence
    stays whole. Table-of-contents lines are left out: they point elsewhere and say
    nothing. Ids count up from ``first_id``.
    """
    passages: list[Passage] = []
    for piece in _grouped(_paragraphs(doc.text)):
        passages.append(
            Passage(
                id=first_id + len(passages),
                document_id=doc.id,
                text=piece.text,
                section=doc.section_at(piece.start),
                start=piece.start,
                lead_in=piece.lead_in,
            )
        )
    return passages
