"""BM25 tables of a set of documents: built here with numpy, cached on disk between runs.

Documents are cut into quotable passages (see :mod:`bot.search.text`) and indexed; the
built tables, the passages and the quotations shared between outlets are saved in one
``.npz`` file keyed by everything they depend on, so a restart loads instead of building.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.model import Document
from bot.search.stored import StoredError, StoredPassages, passage_arrays
from bot.search.text import TOKENIZER_VERSION, Passage, Stems, raw_tokens, split_passages

logger = logging.getLogger(__name__)

_CACHE_FORMAT = 4  # 3: passages as offsets into their documents' text; 4: our own scoring
CACHE_PREFIX = "search-index-"
_CACHE_KEEP = 4  # cache files kept per directory; older ones are stale builds
_MAX_SHARED_GROUP = 50  # a run shared by more passages is boilerplate, not a quotation

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
    everyday_weight: float = 0.7  # the documents' words for a reader's everyday ones
    everyday_dense: bool = False  # whether the semantic retriever also reads them
    skip_semantic_when_conclusive: bool = True  # BM25 alone when its best passage has it all
    semantic_weight: float = 1.5  # the semantic ranking's weight in fusion (BM25's is 1)


@dataclass(frozen=True)
class Tables:
    """Everything a built index needs besides the passages; what the cache stores."""

    data: FloatArray  # precomputed BM25 scores, by term (see bm25_scores)
    indices: npt.NDArray[np.int32]
    indptr: IntArray
    stems: tuple[str, ...]  # term id -> stem
    words: tuple[str, ...]  # surface words, for corrections and suggestions
    word_counts: tuple[int, ...]
    shared_indptr: IntArray  # passage -> passages elsewhere sharing a quotation (CSR)
    shared_indices: IntArray


# --- building -------------------------------------------------------------------


def passages_of(documents: Sequence[Document]) -> tuple[Passage, ...]:
    passages: list[Passage] = []
    for doc in documents:
        passages.extend(split_passages(doc, first_id=len(passages)))
    return tuple(passages)


def cache_key(documents: Sequence[Document], settings: SearchSettings) -> str:
    """A digest of everything the index depends on: documents, versions and settings.

    Keyed on the documents rather than on their passages so that a warm start need not
    cut 100,000 passages just to find out it could have loaded them; the tokenizer
    version stands for the passage splitter too.
    """
    digest = hashlib.sha256()
    header = [_CACHE_FORMAT, TOKENIZER_VERSION, repr(settings)]
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


def bm25_scores(
    corpus_ids: Sequence[Sequence[int]], terms: int, k1: float, b: float
) -> tuple[FloatArray, npt.NDArray[np.int32], IntArray]:
    """Each term's BM25 score in each passage holding it, as a sparse matrix by term
    (data, passage numbers, and where each term's run starts): Lucene's BM25 (Kamphuis et
    al., ECIR 2020), the variant bm25s computes, so a query sums its terms' runs.

    A few array operations over every (term, passage) pair: importing bm25s and scipy to
    do the same took longer than building a small corpus's whole index.
    """
    passages = len(corpus_ids)
    lengths = np.fromiter(map(len, corpus_ids), dtype=np.int64, count=passages)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(terms + 1, np.int64)
    occurrences = np.fromiter(chain.from_iterable(corpus_ids), dtype=np.int64, count=total)
    owners = np.repeat(np.arange(passages, dtype=np.int64), lengths)
    # Sorting (term, passage) keys puts the pairs in the matrix's order, term by term.
    pairs, frequency = np.unique(occurrences * passages + owners, return_counts=True)
    term, passage = np.divmod(pairs, passages)
    document_frequency = np.bincount(term, minlength=terms)
    idf = np.log1p((passages - document_frequency + 0.5) / (document_frequency + 0.5))
    norm = k1 * ((1.0 - b) + b * lengths[passage] / lengths.mean())
    data = idf[term] * frequency / (norm + frequency)
    indptr = np.concatenate(([0], np.cumsum(document_frequency)))
    return data.astype(np.float32), passage.astype(np.int32), indptr.astype(np.int64)


def build_tables(passages: Sequence[Passage], settings: SearchSettings) -> Tables:
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
    data, indices, indptr = bm25_scores(corpus_ids, len(vocab), settings.k1, settings.b)
    lexicon = tuple(sorted(w for w in surface if w.isalpha() and len(w) > 2))
    shared_indptr, shared_indices = _shared_quotations(
        plain_hashes, owners, passages, settings.shared_run
    )
    return Tables(
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


def save(
    path: Path,
    key: str,
    documents: Sequence[Document],
    passages: Sequence[Passage],
    tables: Tables,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": _CACHE_FORMAT, "key": key, "passages": len(passages)}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        np.savez(
            handle,
            meta=_text_array([json.dumps(meta)]),
            **passage_arrays(documents, passages),
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
            kept.parent.glob(f"{CACHE_PREFIX}*.npz"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in files[_CACHE_KEEP:]:
            if stale != kept:
                stale.unlink(missing_ok=True)
    except OSError as error:
        logger.warning("could not prune search caches in %s: %s", kept.parent, error)


class CacheError(Exception):
    pass


def load(path: Path, key: str, documents: Sequence[Document]) -> tuple[Sequence[Passage], Tables]:
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as stored:
            meta = json.loads(_text_items(stored["meta"])[0])
            if meta.get("format") != _CACHE_FORMAT or meta.get("key") != key:
                raise CacheError("cache is for other documents")
            passages = StoredPassages(documents, stored)
            tables = Tables(
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
        StoredError,
    ) as error:
        raise CacheError(str(error)) from error
    if meta.get("passages") != len(passages):
        raise CacheError("passage count disagrees")
    _check(tables, len(passages))
    return passages, tables


def _check(tables: Tables, passages: int) -> None:
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
        raise CacheError("cache arrays are inconsistent")
