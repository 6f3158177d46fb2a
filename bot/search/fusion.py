"""Where the retrievers' rankings meet: reciprocal rank fusion, in this one place.

Each retriever ranks passages on its own scale (BM25 sums, cosines); fusing by rank rather
than by score needs no calibration between them. A passage ranked r-th (from 1) by a
retriever gains weight / (k + r); k = 60 is the constant of Cormack, Clarke and Büttcher's
paper, and it keeps one retriever's top hit from outvoting agreement further down.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
) -> dict[int, float]:
    """Fused scores of every passage any ranking names, best first (ties: first seen)."""
    fused: dict[int, float] = {}
    for number, ranking in enumerate(rankings):
        weight = weights[number] if weights is not None else 1.0
        for rank, passage in enumerate(ranking, 1):
            fused[passage] = fused.get(passage, 0.0) + weight / (k + rank)
    return dict(sorted(fused.items(), key=lambda item: -item[1]))
