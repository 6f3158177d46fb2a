"""The retrievers search fuses: each ranks passages for a question in its own way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.search.tables import FloatArray, Tables


@dataclass(frozen=True)
class Query:
    """A question as the retrievers see it: its text, and its words as BM25 term ids."""

    text: str
    term_ids: tuple[int, ...]
    weights: tuple[float, ...]  # per term: frame words ("say", "report") count less


class Retriever(Protocol):
    name: str

    def rank(self, query: Query, limit: int) -> list[int]:
        """Up to ``limit`` passage numbers, best first."""
        ...


class Bm25Retriever:
    """BM25 over the passages' stems, scored from the precomputed sparse tables."""

    name = "bm25"

    def __init__(self, tables: Tables, passages: int) -> None:
        self._tables = tables
        self._passages = passages

    def scores(self, query: Query) -> FloatArray:
        """The BM25 score of every passage (zero where no query word occurs)."""
        tables = self._tables
        if not query.term_ids:
            return np.zeros(self._passages, dtype=np.float32)
        rows: list[npt.NDArray[np.int32]] = []
        values: list[FloatArray] = []
        for term, weight in zip(query.term_ids, query.weights, strict=True):
            start, end = tables.indptr[term : term + 2]
            rows.append(tables.indices[start:end])
            values.append(tables.data[start:end] * np.float32(weight))
        summed = np.bincount(
            np.concatenate(rows), weights=np.concatenate(values), minlength=self._passages
        )
        return summed.astype(np.float32)

    def rank(self, query: Query, limit: int) -> list[int]:
        return best(self.scores(query), limit)


def best(scores: FloatArray, count: int) -> list[int]:
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
