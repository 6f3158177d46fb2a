"""The approximate nearest-neighbour index used for large corpora: cells of vectors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.search import cells as cells_module
from bot.search.cells import CellIndex
from bot.search.dense import SemanticIndex
from bot.search.embedding import Vectors
from bot.search.text import Passage


def clustered(count: int, topics: int = 40, dims: int = 48, seed: int = 3) -> Vectors:
    """Unit vectors around a few topics, as passages about a few subjects are."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dims))
    vectors = centres[rng.integers(0, topics, count)] + 0.6 * rng.standard_normal((count, dims))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_the_cells_find_the_nearest_passages_reading_only_some() -> None:
    vectors = clustered(6_000)
    cells = CellIndex(vectors, cells=60)
    rng = np.random.default_rng(9)
    overlap = []
    for row in rng.integers(0, len(vectors), 30):
        query = vectors[row]
        ids, cosines = cells.scores(query)
        assert len(ids) < len(vectors) / 2  # most passages are never read
        exact = set(np.argsort(-(vectors @ query))[:10].tolist())
        found = set(ids[np.argsort(-cosines)[:10]].tolist())
        overlap.append(len(exact & found) / 10)
        np.testing.assert_allclose(cosines, vectors[ids] @ query, rtol=1e-5)
    assert np.mean(overlap) >= 0.9


def test_the_cells_keep_every_vector_once() -> None:
    vectors = clustered(1_000)
    cells = CellIndex(vectors, cells=25)
    assert np.array_equal(cells.vectors(), vectors)
    assert len(cells) == len(vectors)


class WordsEmbedder:
    """Each passage "topicN" its own direction: a question names the passage it wants."""

    name = "one direction a topic"
    dimensions = 64

    def warm_up(self) -> None:
        pass

    def passages(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.query(text) for text in texts])

    def query(self, text: str) -> Vectors:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        number = int(text.split("topic")[1].split()[0])
        vector[number % self.dimensions] = 1.0
        vector[(number * 7 + 1) % self.dimensions] = 0.5
        return vector / np.linalg.norm(vector)


def test_a_large_corpus_is_searched_through_cells() -> None:
    passages = [Passage(n, "doc", f"passage topic{n}", None, 0) for n in range(300)]
    semantic = SemanticIndex(WordsEmbedder(), passages, None, min_cells=200)
    semantic.start()
    assert semantic.wait(20)
    retriever = semantic.retriever
    assert retriever is not None and retriever.approximate
    nearest, cosines = retriever.rank("topic42", 3)
    assert nearest[0] % 64 == 42 and cosines[0] > 0.99
    small = SemanticIndex(WordsEmbedder(), passages[:100], None, min_cells=200)
    small.start()
    assert small.wait(20)
    assert small.retriever is not None and not small.retriever.approximate


def test_the_cells_centres_are_cached_and_a_restart_does_not_group_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passages = [Passage(n, "doc", f"passage topic{n}", None, 0) for n in range(300)]
    path = tmp_path / "search-semantic-x.npz"

    def started() -> SemanticIndex:
        semantic = SemanticIndex(WordsEmbedder(), passages, path, min_cells=200)
        semantic.start()
        assert semantic.wait(20)
        return semantic

    first = started()
    saved = tmp_path / "search-semantic-x.cells.npy"
    assert saved.is_file()

    def no_grouping(*args: object) -> None:
        raise AssertionError("the cells were grouped again")

    monkeypatch.setattr(cells_module, "_spherical_kmeans", no_grouping)
    again = started()
    assert again.retriever is not None and again.retriever.approximate
    assert again.retriever.rank("topic42", 3)[0] == first.retriever.rank("topic42", 3)[0]  # type: ignore[union-attr]

    saved.write_bytes(b"not an array")  # damaged: grouped again, never trusted
    monkeypatch.undo()
    damaged = started()
    assert damaged.retriever is not None and damaged.retriever.approximate
    assert np.load(saved).shape[1] == WordsEmbedder.dimensions
