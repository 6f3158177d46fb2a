"""Passage search over the inquiry's documents: BM25 ranking, one result per quotation.

Documents are cut into quotable passages (see :mod:`bot.search.text`), indexed with
bm25s, and the built index is cached on disk so that restarts are quick. A query gets
the best passages, each with a short highlighted excerpt; when several outlets carry
the same quotation only the best-scoring copy is shown and the others are listed in
``also_in``. Misspelt words are corrected from the corpus's own vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt

from bot.model import Document
from bot.search.excerpt import Segment, make_excerpt, term_spans
from bot.search.lexicon import Lexicon
from bot.search.text import (
    TOKENIZER_VERSION,
    Passage,
    Stems,
    content_words,
    raw_tokens,
    split_passages,
    tokenize,
)

__all__ = [
    "Hit",
    "Passage",
    "SearchIndex",
    "SearchResult",
    "SearchSettings",
    "split_passages",
    "tokenize",
]

logger = logging.getLogger(__name__)

_CACHE_FORMAT = 2
_CACHE_PREFIX = "search-index-"
_CACHE_KEEP = 4  # cache files kept per directory; older ones are stale builds
_MAX_QUERY_CHARS = 20_000  # enough for any question; bounds work on pasted text
_MAX_QUERY_TOKENS = 1_000
_MAX_SHARED_GROUP = 50  # a run shared by more passages is boilerplate, not a quotation

_MARKUP_RE = re.compile(r"</?[A-Za-z][^<>]{0,200}>|&#?\w{1,10};")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SearchSettings:
    """Ranking knobs. They are part of the cache key: changing one rebuilds the index."""

    k1: float = 1.2
    b: float = 0.75
    shared_run: int = 8  # words in a row two outlets must share to be one quotation
    per_document: int = 2  # hits per document before other documents get a turn
    # Words readers frame a question with ("what did the report say about vetting?"):
    # common across a corpus about a report, they would otherwise outvote the topic.
    frame_words: tuple[str, ...] = ("say", "said", "report", "review", "find", "found", "think")
    frame_weight: float = 0.5


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    excerpt: tuple[Segment, ...]  # (text, matched) runs, at most ~240 chars
    also_in: tuple[str, ...] = ()  # other documents carrying the same quotation


@dataclass(frozen=True)
class SearchResult:
    query: str
    terms: tuple[str, ...]  # the query's content words as searched (after corrections)
    hits: tuple[Hit, ...]
    suggestions: tuple[str, ...] = ()  # corpus words near misspelt or unknown words
    corrections: tuple[tuple[str, str], ...] = ()  # (typed, searched) word pairs


@dataclass(frozen=True)
class _Tables:
    """Everything a built index needs besides the passages; what the cache stores."""

    data: FloatArray  # bm25s's precomputed scores, CSC by term
    indices: npt.NDArray[np.int32]
    indptr: IntArray
    stems: tuple[str, ...]  # term id -> stem
    words: tuple[str, ...]  # surface words, for corrections and suggestions
    word_counts: tuple[int, ...]
    shared_indptr: IntArray  # passage -> passages elsewhere sharing a quotation (CSR)
    shared_indices: IntArray


# --- building -------------------------------------------------------------------


def _passages_of(documents: Sequence[Document]) -> tuple[Passage, ...]:
    passages: list[Passage] = []
    for doc in documents:
        passages.extend(split_passages(doc, first_id=len(passages)))
    return tuple(passages)


def _cache_key(documents: Sequence[Document], settings: SearchSettings) -> str:
    """A digest of everything the index depends on: documents, versions and settings.

    Keyed on the documents rather than on their passages so that a warm start need not
    cut 100,000 passages just to find out it could have loaded them; the tokenizer
    version stands for the passage splitter too.
    """
    digest = hashlib.sha256()
    header = [_CACHE_FORMAT, TOKENIZER_VERSION, bm25s.__version__, repr(settings)]
    digest.update(json.dumps(header).encode())
    for doc in documents:
        sections = [(s.title, s.start, s.end) for s in doc.sections]
        digest.update(json.dumps([doc.id, len(doc.text), sections]).encode())
        digest.update(doc.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


class _Terms:
    """What indexing learns from each distinct written token, worked out once per token.

    Corpora repeat their words, so the per-word work (splitting, stop words, stemming,
    term ids) is memoised by written token and each passage becomes a few C-level maps.
    """

    def __init__(self) -> None:
        self.stems = Stems()
        self.term_ids: dict[str, int] = {}
        self.token_counts: Counter[str] = Counter()
        self._ids: dict[str, tuple[int, ...]] = {}
        self._plain: dict[str, int] = {}

    def learn(self, tokens: list[str], *, count: bool = True) -> None:
        for token in set(tokens).difference(self._ids):
            analysis = self.stems.analysis(token)
            ids = self.term_ids
            self._ids[token] = tuple(ids.setdefault(stem, len(ids)) for stem in analysis.stems)
            self._plain[token] = hash(analysis.plain)
        if count:
            self.token_counts.update(tokens)

    def ids(self, tokens: list[str]) -> list[int]:
        return list(chain.from_iterable(map(self._ids.__getitem__, tokens)))

    def plain_hashes(self, tokens: list[str]) -> Iterator[int]:
        return map(self._plain.__getitem__, tokens)

    def word_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for token, count in self.token_counts.items():
            for word in self.stems.analysis(token).words:
                counts[word] += count
        return counts


def _build_tables(passages: Sequence[Passage], settings: SearchSettings) -> _Tables:
    terms = _Terms()
    corpus_ids: list[list[int]] = []
    plain_hashes: list[int] = []
    owners: list[int] = []
    for number, passage in enumerate(passages):
        tokens = raw_tokens(passage.text)
        terms.learn(tokens)
        plain_hashes.extend(terms.plain_hashes(tokens))
        owners.extend([number] * len(tokens))
        if passage.lead_in:
            lead_in = raw_tokens(passage.lead_in)
            terms.learn(lead_in, count=False)  # already counted in its own passage
            tokens = lead_in + tokens
        corpus_ids.append(terms.ids(tokens))
    vocab = terms.term_ids
    surface = terms.word_counts()
    retriever = bm25s.BM25(k1=settings.k1, b=settings.b)
    if vocab:
        retriever.index((corpus_ids, vocab), create_empty_token=False, show_progress=False)
        scores = retriever.scores
        data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    else:
        data, indices, indptr = np.zeros(0), np.zeros(0), np.zeros(1)
    lexicon = tuple(sorted(w for w in surface if w.isalpha() and len(w) > 2))
    shared_indptr, shared_indices = _shared_quotations(
        plain_hashes, owners, passages, settings.shared_run
    )
    return _Tables(
        data=np.asarray(data, dtype=np.float32),
        indices=np.asarray(indices, dtype=np.int32),
        indptr=np.asarray(indptr, dtype=np.int64),
        stems=tuple(sorted(vocab, key=vocab.__getitem__)),
        words=lexicon,
        word_counts=tuple(surface[w] for w in lexicon),
        shared_indptr=shared_indptr,
        shared_indices=shared_indices,
    )


def _shared_quotations(
    hashes: list[int], owners: list[int], passages: Sequence[Passage], run: int
) -> tuple[IntArray, IntArray]:
    """For each passage, the passages of other documents sharing a long run of words.

    ``hashes`` are the passages' plain words (stop words kept) one after another and
    ``owners`` the passage each belongs to. Every run of ``run`` consecutive words is
    hashed; passages of different documents with an equal run carry the same quotation.
    """
    pairs: set[tuple[int, int]] = set()
    if len(hashes) >= run:
        token = np.array(hashes, dtype=np.int64).view(np.uint64)
        owner = np.array(owners, dtype=np.int64)
        starts = np.flatnonzero(owner[: len(owner) - run + 1] == owner[run - 1 :])
        shingle = np.zeros(len(starts), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for offset in range(run):
                shingle = shingle * np.uint64(1_000_003) + token[starts + offset]
        pairs = _pairs_sharing(shingle, owner[starts], passages)
    return _to_csr(pairs, len(passages))


def _pairs_sharing(
    shingle: npt.NDArray[np.uint64], owner: IntArray, passages: Sequence[Passage]
) -> set[tuple[int, int]]:
    order = np.argsort(shingle)
    shingle, owner = shingle[order], owner[order]
    group_starts = np.flatnonzero(np.r_[True, shingle[1:] != shingle[:-1]])
    group_ends = np.r_[group_starts[1:], len(shingle)]
    pairs: set[tuple[int, int]] = set()
    repeated = (group_ends - group_starts) > 1
    for start, end in zip(group_starts[repeated], group_ends[repeated], strict=True):
        members = sorted(set(owner[start:end].tolist()))
        if len(members) < 2 or len(members) > _MAX_SHARED_GROUP:
            continue
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                if passages[left].document_id != passages[right].document_id:
                    pairs.add((left, right))
    return pairs


def _to_csr(pairs: set[tuple[int, int]], count: int) -> tuple[IntArray, IntArray]:
    neighbours: list[list[int]] = [[] for _ in range(count)]
    for left, right in pairs:
        neighbours[left].append(right)
        neighbours[right].append(left)
    indptr = np.zeros(count + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(n) for n in neighbours])
    flat = [p for n in neighbours for p in sorted(n)]
    return indptr, np.array(flat, dtype=np.int64)


# --- the cache ---------------------------------------------------------------------


def _text_array(items: Iterable[str]) -> npt.NDArray[np.uint8]:
    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8)


def _text_items(array: npt.NDArray[Any]) -> tuple[str, ...]:
    text = array.tobytes().decode("utf-8")
    return tuple(text.split("\n")) if text else ()


def _blob(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """Texts as one UTF-8 array and their end offsets (in characters): fast to reload."""
    joined = "".join(texts).encode("utf-8", "surrogatepass")
    ends = np.cumsum([len(t) for t in texts], dtype=np.int64)
    return np.frombuffer(joined, dtype=np.uint8), ends


def _unblob(array: npt.NDArray[Any], ends: IntArray) -> list[str]:
    joined = array.tobytes().decode("utf-8", "surrogatepass")
    if len(ends) != 0 and (int(ends[-1]) != len(joined) or bool(np.any(np.diff(ends) < 0))):
        raise _CacheError("stored passage texts are inconsistent")
    bounds = [0, *ends.tolist()]
    return [joined[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


def _save(
    path: Path,
    key: str,
    documents: Sequence[Document],
    passages: Sequence[Passage],
    tables: _Tables,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": _CACHE_FORMAT, "key": key, "passages": len(passages)}
    position = {doc.id: number for number, doc in enumerate(documents)}
    texts, text_ends = _blob([p.text for p in passages])
    leads, lead_ends = _blob([p.lead_in for p in passages])
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        np.savez(
            handle,
            meta=_text_array([json.dumps(meta)]),
            passage_document=np.array([position[p.document_id] for p in passages], dtype=np.int64),
            passage_start=np.array([p.start for p in passages], dtype=np.int64),
            passage_text=texts,
            passage_text_ends=text_ends,
            passage_lead=leads,
            passage_lead_ends=lead_ends,
            data=tables.data,
            indices=tables.indices,
            indptr=tables.indptr,
            stems=_text_array(tables.stems),
            words=_text_array(tables.words),
            word_counts=np.array(tables.word_counts, dtype=np.int64),
            shared_indptr=tables.shared_indptr,
            shared_indices=tables.shared_indices,
        )
    os.replace(temporary, path)  # readers never see a half-written file
    _prune(path)


def _prune(kept: Path) -> None:
    """Delete all but the newest few cache files: each document change leaves one."""
    try:
        files = sorted(
            kept.parent.glob(f"{_CACHE_PREFIX}*.npz"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in files[_CACHE_KEEP:]:
            if stale != kept:
                stale.unlink(missing_ok=True)
    except OSError as error:
        logger.warning("could not prune search caches in %s: %s", kept.parent, error)


class _CacheError(Exception):
    pass


def _load(
    path: Path, key: str, documents: Sequence[Document]
) -> tuple[tuple[Passage, ...], _Tables]:
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as stored:
            meta = json.loads(_text_items(stored["meta"])[0])
            if meta.get("format") != _CACHE_FORMAT or meta.get("key") != key:
                raise _CacheError("cache is for other documents")
            passages = _stored_passages(stored, documents)
            tables = _Tables(
                data=stored["data"].astype(np.float32, copy=False),
                indices=stored["indices"].astype(np.int32, copy=False),
                indptr=stored["indptr"].astype(np.int64, copy=False),
                stems=_text_items(stored["stems"]),
                words=_text_items(stored["words"]),
                word_counts=tuple(stored["word_counts"].tolist()),
                shared_indptr=stored["shared_indptr"].astype(np.int64, copy=False),
                shared_indices=stored["shared_indices"].astype(np.int64, copy=False),
            )
    except (
        OSError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        EOFError,
        zipfile.BadZipFile,
    ) as error:
        raise _CacheError(str(error)) from error
    if meta.get("passages") != len(passages):
        raise _CacheError("passage count disagrees")
    _check(tables, len(passages))
    return passages, tables


def _stored_passages(stored: Any, documents: Sequence[Document]) -> tuple[Passage, ...]:
    owners = stored["passage_document"].tolist()
    starts = stored["passage_start"].tolist()
    texts = _unblob(stored["passage_text"], stored["passage_text_ends"])
    leads = _unblob(stored["passage_lead"], stored["passage_lead_ends"])
    if not len(owners) == len(starts) == len(texts) == len(leads):
        raise _CacheError("stored passages are inconsistent")
    passages: list[Passage] = []
    for number, (owner, start, text, lead_in) in enumerate(
        zip(owners, starts, texts, leads, strict=True)
    ):
        if not 0 <= owner < len(documents):
            raise _CacheError("stored passage names an unknown document")
        doc = documents[owner]
        section = doc.section_at(start) if doc.sections else None
        passages.append(Passage(number, doc.id, text, section, start, lead_in))
    return tuple(passages)


def _check(tables: _Tables, passages: int) -> None:
    """Reject a cache whose arrays disagree: a damaged file must not reach numpy."""
    consistent = (
        len(tables.indptr) == len(tables.stems) + 1
        and len(tables.data) == len(tables.indices) == int(tables.indptr[-1])
        and bool(np.all(np.diff(tables.indptr) >= 0))
        and (len(tables.indices) == 0 or 0 <= int(tables.indices.min()))
        and (len(tables.indices) == 0 or int(tables.indices.max()) < passages)
        and len(tables.words) == len(tables.word_counts)
        and len(tables.shared_indptr) == passages + 1
        and len(tables.shared_indices) == int(tables.shared_indptr[-1])
        and (len(tables.shared_indices) == 0 or int(tables.shared_indices.max()) < passages)
    )
    if not consistent:
        raise _CacheError("cache arrays are inconsistent")


# --- the index --------------------------------------------------------------------


_SPAN_CACHE = 20_000
_PRIMARY_SHARE = 0.6  # of a news passage's score, for the report's copy to stand in for it


class SearchIndex:
    """BM25 search over the passages of a set of documents. Build with :meth:`build`."""

    def __init__(
        self,
        documents: tuple[Document, ...],
        passages: tuple[Passage, ...],
        tables: _Tables,
        settings: SearchSettings,
        cache_dir: Path | None,
        from_cache: bool,
    ) -> None:
        self._documents = documents
        self._passages = passages
        self._tables = tables
        self._settings = settings
        self._cache_dir = cache_dir
        self._from_cache = from_cache
        self._report_ids = {d.id for d in documents if d.meta.kind == "report"}
        self._stems = Stems()
        # Excerpts re-read the same popular passages: keep their word offsets (bounded).
        self._spans: dict[int, list[tuple[int, int, str]]] = {}
        self._term_ids = {stem: number for number, stem in enumerate(tables.stems)}
        self._lexicon = Lexicon(tables.words, tables.word_counts)
        frame = (self._stems.stem(word) for word in settings.frame_words)
        self._frame_ids = {self._term_ids[s] for s in frame if s in self._term_ids}
        self._retriever = bm25s.BM25(k1=settings.k1, b=settings.b)
        self._retriever.scores = {
            "data": tables.data,
            "indices": tables.indices,
            "indptr": tables.indptr,
            "num_docs": len(passages),
        }
        self._retriever.vocab_dict = self._term_ids
        self._retriever.nonoccurrence_array = None

    @classmethod
    def build(
        cls,
        documents: Sequence[Document],
        cache_dir: Path | None = None,
        settings: SearchSettings | None = None,
    ) -> SearchIndex:
        """Index the documents, or load the index cached for exactly these passages.

        A missing, stale or damaged cache is rebuilt (and rewritten), never fatal.
        """
        settings = settings or SearchSettings()
        started = time.perf_counter()
        docs = tuple(documents)
        key = _cache_key(docs, settings)
        path = cache_dir / f"{_CACHE_PREFIX}{key}.npz" if cache_dir else None
        if path is not None and path.exists():
            try:
                passages, tables = _load(path, key, docs)
            except _CacheError as error:
                logger.warning("search cache %s unusable (%s); rebuilding", path, error)
            else:
                logger.info(
                    "search index loaded from %s: %d passages in %.2fs",
                    path,
                    len(passages),
                    time.perf_counter() - started,
                )
                return cls(docs, passages, tables, settings, cache_dir, from_cache=True)
        passages = _passages_of(docs)
        tables = _build_tables(passages, settings)
        if path is not None:
            try:
                _save(path, key, docs, passages, tables)
            except OSError as error:
                logger.warning("could not write search cache %s: %s", path, error)
        logger.info(
            "search index built: %d passages, %d terms in %.2fs",
            len(passages), len(tables.stems), time.perf_counter() - started,
        )
        return cls(docs, passages, tables, settings, cache_dir, from_cache=False)

    @property
    def passages(self) -> tuple[Passage, ...]:
        return self._passages

    @property
    def documents(self) -> tuple[Document, ...]:
        return self._documents

    @property
    def from_cache(self) -> bool:
        """Whether this index was loaded from the disk cache rather than built."""
        return self._from_cache

    def add_documents(self, documents: Iterable[Document]) -> SearchIndex:
        """A new index with these documents added (a document with a known id replaces it)."""
        added = tuple(documents)
        replaced = {doc.id for doc in added}
        kept = tuple(doc for doc in self._documents if doc.id not in replaced)
        return SearchIndex.build(kept + added, self._cache_dir, self._settings)

    def search(self, query: str, k: int = 5) -> SearchResult:
        """The ``k`` best passages for ``query`` (only those matching at least one word)."""
        # Pasted markup ("<b>", "&amp;") is not what the reader is asking about.
        text = _MARKUP_RE.sub(" ", query[:_MAX_QUERY_CHARS])
        words = content_words(text)[:_MAX_QUERY_TOKENS]
        terms, stems, corrections = self._query_terms(words)
        ids = [self._term_ids[stem] for stem in stems]
        hits = self._rank(ids, set(stems), max(k, 0)) if ids else ()
        if hits:
            suggestions = tuple(dict.fromkeys(used for _, used in corrections))
        else:
            unknown = [w for w in words if self._stems.stem(w) not in self._term_ids]
            suggestions = self._lexicon.suggestions(dict.fromkeys(unknown))
        return SearchResult(query, terms, hits, suggestions, corrections)

    def _query_terms(
        self, words: list[str]
    ) -> tuple[tuple[str, ...], list[str], tuple[tuple[str, str], ...]]:
        """Distinct query words whose stems the index knows, correcting unknown ones."""
        terms: list[str] = []
        stems: list[str] = []
        corrections: list[tuple[str, str]] = []
        for word in words:
            stem = self._stems.stem(word)
            if stem not in self._term_ids:
                corrected = self._lexicon.correction(word)
                if corrected is None:
                    continue
                corrections.append((word, corrected))
                word, stem = corrected, self._stems.stem(corrected)
            if stem in self._term_ids and stem not in stems:
                terms.append(word)
                stems.append(stem)
        return tuple(terms), stems, tuple(dict.fromkeys(corrections))

    def _rank(self, ids: list[int], query_stems: set[str], k: int) -> tuple[Hit, ...]:
        scores = self._scores(ids)
        chosen: list[int] = []
        pool = max(4 * k, 40)
        while True:
            candidates = _best(scores, pool)
            distinct = self._distinct(candidates, scores)
            chosen = self._diverse(list(distinct), k)
            if len(chosen) >= k or len(candidates) < pool:
                break
            pool *= 4  # dedup or diversity ate the pool; look further down
        return tuple(self._hit(number, distinct[number], query_stems) for number in chosen)

    def _scores(self, ids: list[int]) -> FloatArray:
        """BM25 scores of every passage, frame words ("say", "report") counting less."""
        weights = [self._settings.frame_weight if i in self._frame_ids else 1.0 for i in ids]
        if all(weight == 1.0 for weight in weights):
            scores: FloatArray = self._retriever.get_scores_from_ids(ids)
            return scores
        tables = self._tables
        scores = np.zeros(len(self._passages), dtype=np.float32)
        for term, weight in zip(ids, weights, strict=True):
            start, end = tables.indptr[term : term + 2]
            weighted = tables.data[start:end] * np.float32(weight)
            np.add.at(scores, tables.indices[start:end], weighted)
        return scores

    def _shared_with(self, number: int) -> IntArray:
        start, end = self._tables.shared_indptr[number : number + 2]
        return self._tables.shared_indices[start:end]

    def _distinct(self, candidates: list[int], scores: FloatArray) -> dict[int, float]:
        """Candidates minus lower-scoring copies of a quotation already kept (in rank order,
        with the score that ranked them). A quotation the report itself carries is shown in
        the report's words, the outlets that quoted it listed beside it."""
        kept: dict[int, float] = {}
        hidden: set[int] = set()
        for number in candidates:
            if number in hidden:
                continue
            shown = self._primary(number, scores)
            if shown in hidden:
                hidden.add(number)
                continue
            kept[shown] = float(scores[number])
            hidden.update((number, shown, *self._shared_with(shown).tolist()))
        return kept

    def _primary(self, number: int, scores: FloatArray) -> int:
        """The report's own passage carrying this passage's quotation, if there is one that
        matches the question about as well (a news passage may join several quotations)."""
        if self._passages[number].document_id in self._report_ids:
            return number
        floor = _PRIMARY_SHARE * float(scores[number])
        in_report = [
            other
            for other in self._shared_with(number).tolist()
            if self._passages[other].document_id in self._report_ids
            and float(scores[other]) >= floor
        ]
        return max(in_report, key=lambda other: float(scores[other])) if in_report else number

    def _diverse(self, ranked: list[int], k: int) -> list[int]:
        """At most ``per_document`` hits from one document until the others run out."""
        first: list[int] = []
        later: list[int] = []
        per_document: Counter[str] = Counter()
        for number in ranked:
            document_id = self._passages[number].document_id
            if per_document[document_id] < self._settings.per_document:
                per_document[document_id] += 1
                first.append(number)
            else:
                later.append(number)
        return (first + later)[:k]

    def also_in(self, passage_id: int) -> tuple[str, ...]:
        """Ids of the other documents carrying a quotation this passage carries."""
        own = self._passages[passage_id].document_id
        others = (self._passages[p].document_id for p in self._shared_with(passage_id).tolist())
        return tuple(dict.fromkeys(d for d in others if d != own))

    def _hit(self, number: int, score: float, query_stems: set[str]) -> Hit:
        passage = self._passages[number]
        spans = self._spans.get(number)
        if spans is None:
            if len(self._spans) >= _SPAN_CACHE:
                self._spans.clear()
            spans = self._spans[number] = term_spans(passage.text, self._stems)
        excerpt = make_excerpt(passage.text, query_stems, self._stems, spans=spans)
        return Hit(passage, score, excerpt, self.also_in(number))


def _best(scores: FloatArray, count: int) -> list[int]:
    """Indices of the ``count`` highest positive scores, best first (ties by position).

    Zero scores are dropped first, and the cut-off found with ``np.partition``:
    ``argpartition`` over an array of many equal values (zeros, or the few distinct
    scores a one-word query gives) is pathologically slow, tens of milliseconds.
    """
    positive = np.flatnonzero(scores > 0)
    values = scores[positive]
    if len(positive) > count:
        threshold = np.partition(values, len(values) - count)[len(values) - count]
        keep = values >= threshold
        positive, values = positive[keep], values[keep]
    order = np.lexsort((positive, -values))[:count]
    return [int(p) for p in positive[order]]
