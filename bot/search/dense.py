"""The semantic half of search: passage vectors, built in the background and cached.

Embedding costs tens of milliseconds a passage, so a large corpus takes a long time: the
vectors are computed on a background thread while BM25 answers alone, written to the cache
as they come (a restart resumes where the last run stopped), and swapped in when complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from bot.search.cells import MIN_PASSAGES, CellIndex
from bot.search.embedding import Embedder, Vectors
from bot.search.text import Passage

logger = logging.getLogger(__name__)

# Bump when the text a passage is embedded as changes: cached vectors key on it.
EMBED_VERSION = "2"
KNOWN_VECTORS = "semantic-vectors.npz"  # shipped beside a corpus: see write_known
SEMANTIC_PREFIX = "search-semantic-"  # cache files: passage text digests and their vectors
_CACHE_KEEP = 4
_CENTRES_SUFFIX = ".cells.npy"  # beside a vectors file: its cells' centres
_BATCH = 16  # passages embedded between checkpoints
_PROGRESS_STEP = 0.1  # log each tenth of the way


def passage_text(passage: Passage) -> str:
    """What a passage is embedded as: its section's title says what it is about, even
    when its own sentences do not ("Finding 7: Discrimination is tolerated …")."""
    parts = [passage.section or "", passage.lead_in, passage.text]
    return "\n".join(part for part in parts if part)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    ready: bool

    @property
    def share(self) -> float:
        return self.done / self.total if self.total else 1.0


class DenseRetriever:
    """Cosine ranking of passages against a question, over unit vectors held in memory:
    every vector scanned, or with ``cells`` only those of the cells nearest the question
    (approximate, for large corpora: see :mod:`bot.search.cells`)."""

    name = "semantic"

    def __init__(
        self, embedder: Embedder, vectors: Vectors | None, cells: CellIndex | None = None
    ) -> None:
        self._embedder = embedder
        self._cells = cells
        # With cells the vectors live (reordered) in the cells only: one copy in memory.
        self._vectors = None if vectors is None else np.ascontiguousarray(vectors, np.float32)
        if self._vectors is None and cells is None:
            raise ValueError("a dense retriever needs vectors or cells")

    def __len__(self) -> int:
        return len(self._cells) if self._cells is not None else len(self.vectors)

    @property
    def approximate(self) -> bool:
        return self._cells is not None

    @property
    def vectors(self) -> Vectors:
        if self._vectors is not None:
            return self._vectors
        assert self._cells is not None
        return self._cells.vectors()

    def rank(self, text: str, limit: int) -> tuple[list[int], list[float]]:
        """The ``limit`` passages nearest the question, best first, with their cosines."""
        if limit <= 0 or len(self) == 0:
            return [], []
        query = self._embedder.query(text)
        if self._cells is not None:
            ids, scores = self._cells.scores(query)
        else:
            ids, scores = None, self.vectors @ query
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        order = top[np.argsort(-scores[top], kind="stable")]
        found = order if ids is None else ids[order]
        return found.tolist(), scores[order].tolist()


class SemanticIndex:
    """Owns the passage vectors: loads them from the cache, or builds them on a thread."""

    def __init__(
        self,
        embedder: Embedder,
        passages: Sequence[Passage],
        cache_path: Path | None,
        known: Path | None = None,
        min_cells: int = MIN_PASSAGES,
    ) -> None:
        self._embedder = embedder
        self._passages = passages
        self._path = cache_path
        self._known = known
        self._min_cells = min_cells
        self._retriever: DenseRetriever | None = None
        self._done = 0
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def retriever(self) -> DenseRetriever | None:
        """The retriever once every passage has its vector; None while building."""
        return self._retriever

    def progress(self) -> Progress:
        return Progress(self._done, len(self._passages), self._retriever is not None)

    def start(self) -> None:
        """Load or build the vectors on a background thread (serving goes on meanwhile)."""
        self._thread = threading.Thread(target=self._run, name="semantic-index", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the vectors are ready (or the build failed); True when ready."""
        self._finished.wait(timeout)
        return self._retriever is not None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            self._embedder.warm_up()
            vectors = self._build()
            if vectors is not None:
                self._retriever = DenseRetriever(self._embedder, vectors)
                self._done = len(self._passages)
                if len(vectors) >= self._min_cells and not self._stop.is_set():
                    self._retriever = _with_cells(self._embedder, vectors, self._path)
        except Exception:
            logger.exception("semantic index failed; answering with BM25 alone")
        finally:
            self._finished.set()

    def _build(self) -> Vectors | None:
        started = time.perf_counter()
        total = len(self._passages)
        dims = self._embedder.dimensions
        texts = [passage_text(p) for p in self._passages]
        matrix = np.zeros((total, dims), np.float16)
        todo = _fill_known(matrix, texts, self._known_vectors())
        if not todo and self._path is not None and _regular(self._path):
            return matrix.astype(np.float32)  # exactly these passages were cached
        partial = _partial_path(self._path) if self._path else None
        done, partial = _resume(partial, dims, len(todo))
        matrix[todo[: len(done)]] = done
        self._done = total - len(todo) + len(done)
        if self._done < total:
            logger.info("semantic index: embedding %d passages in the background", total)
        next_report = _PROGRESS_STEP
        for start in range(len(done), len(todo), _BATCH):
            if self._stop.is_set():
                return None
            batch = todo[start : start + _BATCH]
            chunk = self._embedder.passages([texts[n] for n in batch]).astype(np.float16)
            matrix[batch] = chunk
            if partial is not None:
                _append(partial, chunk)
            self._done += len(batch)
            if self._done / total >= next_report:
                logger.info("semantic index: %d of %d passages", self._done, total)
                next_report += _PROGRESS_STEP
        if self._path is not None:
            _write_vectors(self._path, texts, matrix, self._embedder)
            if partial is not None:
                partial.unlink(missing_ok=True)
        logger.info(
            "semantic index built: %d passages in %.1fs", total, time.perf_counter() - started
        )
        return matrix.astype(np.float32)

    def _known_vectors(self) -> dict[bytes, npt.NDArray[np.float16]]:
        """Vectors already computed for passage texts: shipped with the documents, or in
        the cache for these or earlier documents (adding one document to 100,000 passages
        must not embed the other 100,000 again)."""
        known = read_known(self._known, self._embedder)
        if self._path is not None:
            earlier = sorted(
                self._path.parent.glob(f"{SEMANTIC_PREFIX}*.npz"),
                key=_modified,
                reverse=True,
            )
            for path in [self._path, *(p for p in earlier if p != self._path)][:_CACHE_KEEP]:
                for digest, vector in read_known(path, self._embedder).items():
                    known.setdefault(digest, vector)
        return known

    def vectors(self) -> Vectors | None:
        """The passage vectors once ready (for shipping them with the documents)."""
        return self._retriever.vectors if self._retriever else None


def _with_cells(embedder: Embedder, vectors: Vectors, path: Path | None) -> DenseRetriever:
    """A retriever scanning only the cells near each question. Grouping the vectors takes
    seconds at 100,000 passages (the exact scan answers meanwhile), so the cells' centres
    are cached beside the vectors and a restart only assigns the passages to them."""
    started = time.perf_counter()
    centres_path = _centres_path(path) if path is not None else None
    centres = _read_centres(centres_path, vectors) if centres_path is not None else None
    cells = CellIndex(vectors, centres=centres)
    if centres is None and centres_path is not None:
        _write_centres(centres_path, cells.centres)
    logger.info(
        "semantic index: %d passages in %d cells in %.1fs (a question scans %d%s)",
        len(vectors), cells.cells, time.perf_counter() - started, cells.probes,
        "; centres from the cache" if centres is not None else "",
    )
    return DenseRetriever(embedder, None, cells)


def _centres_path(vectors_path: Path) -> Path:
    return vectors_path.with_name(f"{vectors_path.stem}{_CENTRES_SUFFIX}")


def _read_centres(path: Path, vectors: Vectors) -> Vectors | None:
    """The cached centres, when they fit these vectors; a damaged file is ignored."""
    if not _regular(path):
        return None
    try:
        centres = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        logger.warning("semantic cells cache %s unusable (%s); grouping again", path, error)
        return None
    fits = (
        centres.ndim == 2
        and centres.dtype == np.float32
        and centres.shape[1] == vectors.shape[1]
        and 0 < len(centres) <= len(vectors)
        and bool(np.isfinite(centres).all())
    )
    return centres if fits else None


def _write_centres(path: Path, centres: Vectors) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            np.save(handle, centres, allow_pickle=False)
        os.replace(temporary, path)
    except OSError as error:
        logger.warning("could not write semantic cells cache %s: %s", path, error)
        temporary.unlink(missing_ok=True)


# --- vectors shipped with a corpus ------------------------------------------------------


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _fingerprint(embedder: Embedder) -> str:
    return f"{embedder.name}|{EMBED_VERSION}|{embedder.dimensions}"


def read_known(path: Path | None, embedder: Embedder) -> dict[bytes, npt.NDArray[np.float16]]:
    """Vectors shipped beside a corpus (``semantic-vectors.npz``), by passage text digest;
    none when the file is missing, damaged, or made by another model."""
    if path is None or not path.exists():
        return {}
    if not _regular(path):
        logger.warning("semantic vectors %s are not a regular file; ignored", path)
        return {}
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as stored:
            made_by = stored["model"].tobytes().decode()
            digests = stored["digests"]
            vectors = stored["vectors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.warning("semantic vectors %s unusable (%s); ignored", path, error)
        return {}
    if made_by != _fingerprint(embedder) or vectors.shape != (len(digests), embedder.dimensions):
        return {}
    return {bytes(d): v for d, v in zip(digests, vectors.astype(np.float16), strict=True)}


def write_known(
    path: Path, passages: Sequence[Passage], vectors: Vectors, embedder: Embedder
) -> None:
    """Ship these passages' vectors beside their corpus, so a fresh install need not embed."""
    texts = [passage_text(p) for p in passages]
    with path.open("wb") as handle:
        _save_known(handle, texts, vectors.astype(np.float16), embedder, compressed=True)


def _save_known(
    handle: BinaryIO,
    texts: Sequence[str],
    vectors: npt.NDArray[np.float16],
    embedder: Embedder,
    *,
    compressed: bool,
) -> None:
    digests = np.array([list(_digest(text)) for text in texts], dtype=np.uint8)
    save = np.savez_compressed if compressed else np.savez
    save(
        handle,
        model=np.frombuffer(_fingerprint(embedder).encode(), dtype=np.uint8),
        digests=digests.reshape(len(texts), 16),
        vectors=vectors,
    )


def _fill_known(
    matrix: npt.NDArray[np.float16],
    texts: Sequence[str],
    known: dict[bytes, npt.NDArray[np.float16]],
) -> list[int]:
    """Rows of ``matrix`` filled from ``known``; returns the passages still to embed."""
    todo: list[int] = []
    for number, text in enumerate(texts):
        vector = known.get(_digest(text)) if known else None
        if vector is None:
            todo.append(number)
        else:
            matrix[number] = vector
    return todo


def _partial_path(path: Path | None) -> Path | None:
    return path.with_name(path.name + ".partial") if path else None


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file: a FIFO or device would block or lie on open."""
    try:
        return path.is_file()
    except OSError:
        return False


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _write_vectors(
    path: Path, texts: Sequence[str], matrix: npt.NDArray[np.float16], embedder: Embedder
) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as handle:
            _save_known(handle, texts, matrix, embedder, compressed=False)
        os.replace(temporary, path)
    except OSError as error:
        logger.warning("could not write semantic cache %s: %s", path, error)
        temporary.unlink(missing_ok=True)
        return
    _prune(path)


def _prune(kept: Path) -> None:
    """Keep the newest few caches: each change of the documents leaves one behind."""
    try:
        files = sorted(kept.parent.glob(f"{SEMANTIC_PREFIX}*.npz"), key=_modified, reverse=True)
        for stale in files[_CACHE_KEEP:]:
            if stale != kept:
                stale.unlink(missing_ok=True)
                _centres_path(stale).unlink(missing_ok=True)
    except OSError as error:
        logger.warning("could not prune semantic caches in %s: %s", kept.parent, error)


def _resume(
    partial: Path | None, dims: int, total: int
) -> tuple[npt.NDArray[np.float16], Path | None]:
    """Vectors an interrupted build already wrote (whole rows only), and the progress file
    to go on writing (None when it is not a regular file: writing a FIFO would block)."""
    empty = np.zeros((0, dims), np.float16)
    if partial is None or not partial.exists():
        return empty, partial
    if not _regular(partial):
        logger.warning("semantic cache %s is not a regular file; not resuming", partial)
        return empty, None
    row = dims * 2
    try:
        raw = partial.read_bytes()
        rows = min(len(raw) // row, total)
        os.truncate(partial, rows * row)  # a row cut short by a crash is dropped
    except OSError:
        return empty, None
    if rows:
        logger.info("semantic index: resuming after %d passages", rows)
    return np.frombuffer(raw[: rows * row], dtype=np.float16).reshape(rows, dims), partial


def _append(partial: Path, chunk: npt.NDArray[np.float16]) -> None:
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("ab") as handle:
            handle.write(chunk.tobytes())
    except OSError as error:
        logger.warning("could not write semantic progress to %s: %s", partial, error)
