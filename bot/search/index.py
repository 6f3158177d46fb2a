"""Passage search over the inquiry's documents: retrievers fused, one result per quotation.

A question is tokenised (misspelt words corrected from the corpus's own vocabulary) and
handed to each retriever: BM25 over the words (:mod:`bot.search.tables`) and, when the
model is available, semantic similarity (:mod:`bot.search.dense`). Their rankings are fused
in one place (:mod:`bot.search.fusion`); the best passages come back each with a short
highlighted excerpt, and when several outlets carry the same quotation only one copy is
shown, the others listed in ``also_in``. :mod:`bot.search.answerable` judges whether the
passages answer the question at all.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.model import Document
from bot.search.answerable import Evidence, Verdict, judge
from bot.search.dense import EMBED_VERSION, SEMANTIC_PREFIX, DenseRetriever, Progress, SemanticIndex
from bot.search.embedding import Embedder
from bot.search.everyday import everyday_words, expansions
from bot.search.excerpt import Segment, make_excerpt, term_spans
from bot.search.fusion import reciprocal_rank_fusion
from bot.search.lexicon import English, Lexicon
from bot.search.retrievers import Bm25Retriever, Query, best
from bot.search.tables import (
    CACHE_PREFIX,
    CacheError,
    FloatArray,
    IntArray,
    SearchSettings,
    Tables,
    build_tables,
    cache_key,
    load,
    passages_of,
    save,
)
from bot.search.text import Passage, Stems, content_words

logger = logging.getLogger(__name__)

_MAX_QUERY_CHARS = 20_000  # enough for any question; bounds work on pasted text
_MAX_QUERY_TOKENS = 1_000

_MARKUP_RE = re.compile(r"</?[A-Za-z][^<>]{0,200}>|&#?\w{1,10};")


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
    verdict: Verdict = Verdict(answered=True)  # whether the hits answer the question
    semantic: Progress | None = None  # the semantic index's state; None without a model

    @property
    def answered(self) -> bool:
        return self.verdict.answered and bool(self.hits)


# --- the index --------------------------------------------------------------------


_SPAN_CACHE = 20_000
_POOL = 100  # candidates each retriever hands to fusion
_MEANING_CHARS = 80  # of a question, embedded: ~18 tokens (the cost grows with each)
_SHORT_QUESTION = 40  # chars: a question this short is embedded as written
_ASKING_WORDS = frozenset("how many much why who when what where which not no never".split())
_QUESTION_WORD_RE = re.compile(r"[\w'’+-]+")
_MAX_EXPANDED = 200  # question words looked up in the everyday-words table
_MAX_CORRECTED = 8  # unknown words of one question looked up for a spelling correction
_MAX_SUGGESTED = 3  # unknown words of one question given "did you mean" suggestions
_CORRECTION_MEMO = 50_000
_PRIMARY_SHARE = 0.6  # of a news passage's score, for the report's copy to stand in for it


class SearchIndex:
    """BM25 search over the passages of a set of documents. Build with :meth:`build`."""

    def __init__(
        self,
        documents: tuple[Document, ...],
        passages: Sequence[Passage],
        tables: Tables,
        settings: SearchSettings,
        cache_dir: Path | None,
        from_cache: bool,
        semantic: SemanticIndex | None = None,
        *,
        embedder: Embedder | None = None,
        known: Path | None = None,
    ) -> None:
        self._embedder = embedder
        self._known = known
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
        self._english = English()  # read on the first question with an unknown word
        self._lexicon = Lexicon(tables.words, tables.word_counts, self._english)
        frame = (self._stems.stem(word) for word in settings.frame_words)
        self._frame_ids = {self._term_ids[s] for s in frame if s in self._term_ids}
        self._bm25 = Bm25Retriever(tables, len(passages))
        self._corrections: dict[str, str | None] = {}
        self._semantic = semantic

    @classmethod
    def build(
        cls,
        documents: Sequence[Document],
        cache_dir: Path | None = None,
        settings: SearchSettings | None = None,
        embedder: Embedder | None = None,
        known_vectors: Path | None = None,
    ) -> SearchIndex:
        """Index the documents, or load the index cached for exactly these passages.

        A missing, stale or damaged cache is rebuilt (and rewritten), never fatal. With an
        ``embedder`` the semantic vectors are loaded or built on a background thread; until
        they are ready BM25 answers alone. ``known_vectors`` are vectors shipped with the
        documents (see :func:`bot.search.dense.write_known`): passages found there are not
        embedded again.
        """
        settings = settings or SearchSettings()
        started = time.perf_counter()
        docs = tuple(documents)
        key = cache_key(docs, settings)
        path = cache_dir / f"{CACHE_PREFIX}{key}.npz" if cache_dir else None
        if path is not None and path.exists() and not path.is_file():
            logger.warning("search cache %s is not a regular file; rebuilding", path)
        elif path is not None and path.exists():
            try:
                passages, tables = load(path, key, docs)
            except CacheError as error:
                logger.warning("search cache %s unusable (%s); rebuilding", path, error)
            else:
                logger.info(
                    "search index loaded from %s: %d passages in %.2fs",
                    path,
                    len(passages),
                    time.perf_counter() - started,
                )
                semantic = _semantic(embedder, passages, cache_dir, key, known_vectors)
                return cls(
                    docs, passages, tables, settings, cache_dir, True, semantic,
                    embedder=embedder, known=known_vectors,
                )
        passages = passages_of(docs)
        tables = build_tables(passages, settings)
        if path is not None:
            try:
                save(path, key, docs, passages, tables)
            except OSError as error:
                logger.warning("could not write search cache %s: %s", path, error)
        logger.info(
            "search index built: %d passages, %d terms in %.2fs",
            len(passages), len(tables.stems), time.perf_counter() - started,
        )
        semantic = _semantic(embedder, passages, cache_dir, key, known_vectors)
        return cls(
            docs, passages, tables, settings, cache_dir, False, semantic,
            embedder=embedder, known=known_vectors,
        )

    @property
    def passages(self) -> Sequence[Passage]:
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
        return SearchIndex.build(
            kept + added, self._cache_dir, self._settings, self._embedder, self._known
        )

    def search(self, query: str, k: int = 5) -> SearchResult:
        """The ``k`` best passages for ``query``, and whether they answer it.

        Without the semantic retriever only passages matching at least one word come back.
        """
        # Pasted markup ("<b>", "&amp;") is not what the reader is asking about.
        text = _MARKUP_RE.sub(" ", query[:_MAX_QUERY_CHARS])
        words = content_words(text)[:_MAX_QUERY_TOKENS]
        everyday = everyday_words(text, _MAX_EXPANDED)
        terms, stems, corrections = self._query_terms(words, everyday)
        ids = tuple(self._term_ids[stem] for stem in stems)
        weights = tuple(self._settings.frame_weight if i in self._frame_ids else 1.0 for i in ids)
        question = self._with_everyday(Query(_meaning_text(text, words), ids, weights))
        bm25 = self._bm25.scores(question)
        dense = self._semantic.retriever if self._semantic else None
        evidence = Evidence()
        # A question with no word the documents know (even by correction or the everyday
        # table) gets no passages: the nearest by meaning to gibberish are noise.
        if dense is not None and question.term_ids and not self._conclusive(bm25, stems, words):
            scores, evidence = self._fused(question, bm25, dense)
        else:
            scores = bm25
        hits = self._rank(scores, set(stems), max(k, 0)) if scores.any() else ()
        unknown = [w for w in words if self._stems.stem(w) not in self._term_ids]
        # A word corrected, or one the everyday-words table translates, is not missing.
        understood = {typed for typed, _ in corrections} | everyday
        missing = [w for w in unknown if w not in understood]
        if hits and stems:
            suggestions = tuple(dict.fromkeys(used for _, used in corrections))
        else:
            suggestions = self._lexicon.suggestions(dict.fromkeys(unknown[:_MAX_SUGGESTED]))
        verdict = judge(
            text, words, missing, evidence, semantic=dense is not None, zipf=self._english.zipf
        )
        return SearchResult(
            query, terms, hits, suggestions, corrections, verdict, self.semantic_progress()
        )

    def semantic_progress(self) -> Progress | None:
        """How far the semantic index has got, or None when there is no model."""
        return self._semantic.progress() if self._semantic else None

    def wait_semantic(self, timeout: float | None = None) -> bool:
        """Wait for the semantic index (tests, benchmarks, one-shot tools); True if ready."""
        return self._semantic.wait(timeout) if self._semantic else False

    def _with_everyday(self, question: Query) -> Query:
        """The documents' terms for the reader's everyday words, added at a lower weight."""
        extra = " ".join(expansions(question.text, _MAX_EXPANDED))
        if not extra:
            return question
        ids = list(question.term_ids)
        weights = list(question.weights)
        for word in content_words(extra):
            term = self._term_ids.get(self._stems.stem(word))
            if term is not None and term not in ids:
                ids.append(term)
                weights.append(self._settings.everyday_weight)
        text = f"{question.text} ({extra})" if self._settings.everyday_dense else question.text
        return Query(text, tuple(ids), tuple(weights))

    def _conclusive(self, bm25: FloatArray, stems: list[str], words: list[str]) -> bool:
        """Whether BM25 alone settles it: every word of the question known, and the best
        passage holds them all. Meaning would add nothing but the model's ~20 ms."""
        if not self._settings.skip_semantic_when_conclusive or len(stems) < 2:
            return False
        if any(self._stems.stem(w) not in self._term_ids for w in words):
            return False
        top = best(bm25, 1)
        held = {stem for _, _, stem in self._spans_of(top[0])} if top else set()
        return held.issuperset(stems)

    def _fused(
        self, question: Query, bm25: FloatArray, dense: DenseRetriever
    ) -> tuple[FloatArray, Evidence]:
        """Scores of the BM25 and semantic rankings fused by rank (only candidates > 0)."""
        lexical = best(bm25, _POOL)
        nearest, cosines = dense.rank(question.text, _POOL)
        fused = reciprocal_rank_fusion(
            [lexical, nearest], weights=(1.0, self._settings.semantic_weight)
        )
        scores = np.zeros(len(self._passages), dtype=np.float32)
        scores[list(fused)] = list(fused.values())
        return scores, Evidence(cosine=cosines[0] if cosines else 0.0)

    def _query_terms(
        self, words: list[str], everyday: set[str]
    ) -> tuple[tuple[str, ...], list[str], tuple[tuple[str, str], ...]]:
        """Distinct query words whose stems the index knows, correcting unknown ones
        (except ``everyday`` words: "cop shops" are police stations, not "cop stops").

        At most ``_MAX_CORRECTED`` words are looked up for a correction, each costing a
        scan of the lexicon: a pasted page of gibberish must not hold up other chats.
        """
        terms: list[str] = []
        stems: list[str] = []
        corrections: list[tuple[str, str]] = []
        tried = 0
        for word in words:
            stem = self._stems.stem(word)
            if stem not in self._term_ids:
                if tried >= _MAX_CORRECTED or word in everyday:
                    continue
                tried += 1
                corrected = self._correction(word)
                if corrected is None:
                    continue
                corrections.append((word, corrected))
                word, stem = corrected, self._stems.stem(corrected)
            if stem in self._term_ids and stem not in stems:
                terms.append(word)
                stems.append(stem)
        return tuple(terms), stems, tuple(dict.fromkeys(corrections))

    def _correction(self, word: str) -> str | None:
        memo = self._corrections
        if word in memo:
            return memo[word]
        if len(memo) >= _CORRECTION_MEMO:
            memo = self._corrections = {}  # a fresh dict: other threads keep their own
        corrected = memo[word] = self._lexicon.correction(word)
        return corrected

    def _rank(self, scores: FloatArray, query_stems: set[str], k: int) -> tuple[Hit, ...]:
        chosen: list[int] = []
        pool = max(4 * k, 40)
        while True:
            candidates = best(scores, pool)
            distinct = self._distinct(candidates, scores)
            chosen = self._diverse(list(distinct), k)
            if len(chosen) >= k or len(candidates) < pool:
                break
            pool *= 4  # dedup or diversity ate the pool; look further down
        return tuple(self._hit(number, distinct[number], query_stems) for number in chosen)

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

    def _spans_of(self, number: int) -> list[tuple[int, int, str]]:
        memo = self._spans
        spans = memo.get(number)
        if spans is None:
            if len(memo) >= _SPAN_CACHE:
                memo = self._spans = {}  # a fresh dict: other threads keep their own
            spans = memo[number] = term_spans(self._passages[number].text, self._stems)
        return spans

    def _hit(self, number: int, score: float, query_stems: set[str]) -> Hit:
        passage = self._passages[number]
        spans = self._spans_of(number)
        excerpt = make_excerpt(passage.text, query_stems, self._stems, spans=spans)
        return Hit(passage, score, excerpt, self.also_in(number))



def _meaning_text(text: str, words: list[str]) -> str:
    """What the semantic retriever reads of a question: a short one as written, a longer
    one as its content words and the words saying what kind of answer it wants ("how
    many", "why", "who"), cut short. The model's cost grows with each token, and the rest
    of "is the met dealing with ... these days" only costs: the evaluation sets scored
    the same without it (a question p95 of 17 tokens, not 21). Very short questions keep
    every word: "could the force be split up" is mostly such words."""
    if len(text) <= _SHORT_QUESTION:
        return text
    content = set(words)
    kept = [
        word  # as typed: the model reads capitals ("Met", "Black")
        for word in _QUESTION_WORD_RE.findall(text)
        if word.lower() in content or word.lower() in _ASKING_WORDS
    ]
    return " ".join(kept)[:_MEANING_CHARS]


def _semantic(
    embedder: Embedder | None,
    passages: Sequence[Passage],
    cache_dir: Path | None,
    key: str,
    known: Path | None,
) -> SemanticIndex | None:
    """The semantic index for these passages, loading or building in the background."""
    if embedder is None:
        return None
    path = None
    if cache_dir is not None:
        model = hashlib.sha256(f"{embedder.name}|{EMBED_VERSION}|{key}".encode()).hexdigest()
        path = cache_dir / f"{SEMANTIC_PREFIX}{model[:32]}.npz"
    semantic = SemanticIndex(embedder, passages, path, known)
    semantic.start()
    return semantic
