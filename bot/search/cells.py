"""An approximate nearest-neighbour index for many passage vectors: an inverted file.

At 100,000 passages a brute-force scan reads 154 MB of vectors for every question (about
6 ms, three times that on a busy machine). Here the vectors are grouped into cells by
spherical k-means; a question is compared with the cells' centres and only the passages of
its nearest cells are scanned (a few per cent of them). Small corpora are scanned whole:
below ``MIN_PASSAGES`` the scan costs about a millisecond and exact is better.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

MIN_PASSAGES = 20_000  # below this a question scans every vector
_PER_CELL = 256  # passages a cell holds on average (cells = passages / this)
_PROBED_SHARE = 0.06  # of the cells, the nearest scanned for a question
_MIN_PROBES = 8
_ITERATIONS = 6  # of k-means: the cells only need to be good, not optimal
_CHUNK = 8_192  # rows assigned to cells at a time (bounds the scratch memory)
_SEED = 20_231  # fixed: the same vectors always make the same cells


class CellIndex:
    """Passage vectors grouped into cells, each cell's vectors side by side in memory (a
    question reads a few contiguous blocks); :meth:`scores` scores only the passages of the
    cells nearest a question."""

    def __init__(
        self, vectors: Vectors, cells: int | None = None, centres: Vectors | None = None
    ) -> None:
        """``centres``: the cells' centres from an earlier grouping of these vectors (a
        restart), so only the passages' assignment to them is redone."""
        count = len(vectors)
        cells = cells or max(1, count // _PER_CELL)
        if centres is None:
            centres = _spherical_kmeans(vectors, min(cells, count))
        self._centres = centres
        owner = _nearest_cell(vectors, self._centres)
        self._order: IntArray = np.argsort(owner, kind="stable").astype(np.int64)
        self._sorted: Vectors = np.ascontiguousarray(vectors[self._order])
        counts = np.bincount(owner, minlength=len(self._centres))
        self._starts: IntArray = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.probes = max(_MIN_PROBES, round(_PROBED_SHARE * len(self._centres)))

    def __len__(self) -> int:
        return len(self._sorted)

    @property
    def cells(self) -> int:
        return len(self._centres)

    @property
    def centres(self) -> Vectors:
        return self._centres

    def vectors(self) -> Vectors:
        """The vectors in passage order (a copy)."""
        original = np.empty_like(self._sorted)
        original[self._order] = self._sorted
        return original

    def scores(self, query: Vectors) -> tuple[IntArray, Vectors]:
        """Passages of the cells nearest ``query`` and their cosines (in no order)."""
        closeness = self._centres @ query
        probes = min(self.probes, len(closeness))
        nearest = np.sort(np.argpartition(-closeness, probes - 1)[:probes])
        ids: list[IntArray] = []
        cosines: list[Vectors] = []
        for cell in nearest.tolist():
            start, end = int(self._starts[cell]), int(self._starts[cell + 1])
            ids.append(self._order[start:end])
            cosines.append(self._sorted[start:end] @ query)
        return np.concatenate(ids), np.concatenate(cosines)


def _spherical_kmeans(vectors: Vectors, cells: int) -> Vectors:
    """Unit-length cell centres; a centre that loses all its passages is reseeded."""
    rng = np.random.default_rng(_SEED)
    centres = vectors[rng.choice(len(vectors), cells, replace=False)].copy()
    for _ in range(_ITERATIONS):
        owner = _nearest_cell(vectors, centres)
        sums = np.zeros_like(centres)
        _add_by_cell(sums, owner, vectors)
        norms = np.linalg.norm(sums, axis=1)
        empty = norms == 0
        if empty.any():
            sums[empty] = vectors[rng.choice(len(vectors), int(empty.sum()), replace=False)]
            norms[empty] = np.linalg.norm(sums[empty], axis=1)
        centres = (sums / norms[:, None]).astype(np.float32)
    return centres


def _add_by_cell(sums: Vectors, owner: IntArray, vectors: Vectors) -> None:
    """``sums[c]`` += every vector owned by cell c (sorted runs: far faster than add.at)."""
    order = np.argsort(owner, kind="stable")
    sorted_owner = owner[order]
    starts = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]])
    sums[sorted_owner[starts]] += np.add.reduceat(vectors[order], starts, axis=0)


def _nearest_cell(vectors: Vectors, centres: Vectors) -> IntArray:
    owner = np.empty(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), _CHUNK):
        block = vectors[start : start + _CHUNK] @ centres.T
        owner[start : start + _CHUNK] = np.argmax(block, axis=1)
    return owner
