"""What was read and extracted from each document, kept on disk between starts.

Reading a PDF and cleaning and structuring a long text costs seconds; a restart on unchanged
documents should cost a file read. Each document's result (cleaned text, sections, structure)
is kept under a key made of what could change it: the file's name, size and modification
time and its sidecar's (for a file), or its text's hash and metadata (for a document added
with ``ingest``), and the version of this package's code, so a new release re-reads
everything. A cache entry that cannot be read is treated as missing and replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.documents.corpus import ParsedDocument

logger = logging.getLogger(__name__)

_FOLDER = "documents"
# Entries not used for this long are removed when a new one is written, so documents that
# were replaced or a corpus no longer served do not fill the disk.
UNUSED_FOR = 30 * 24 * 3600  # seconds


@cache
def code_version() -> str:
    """A hash of the code that reads documents: a new version invalidates every entry."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    sources = sorted(package.rglob("*.py")) + [package.parent / "model.py"]
    for source in sources:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def file_key(path: Path) -> str:
    """A key for a document file: its name, size and time, and its JSON sidecar's."""
    parts = [path.name, *_stamp(path)]
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        parts += ["sidecar", *_stamp(sidecar)]
    return _key("file", parts)


def text_key(text_hash: str, meta: Iterable[object]) -> str:
    return _key("text", [text_hash, *map(repr, meta)])


def _stamp(path: Path) -> list[str]:
    status = path.stat()
    return [str(status.st_size), str(status.st_mtime_ns)]


def _key(kind: str, parts: list[str]) -> str:
    digest = hashlib.sha256("\0".join([kind, code_version(), *parts]).encode())
    return digest.hexdigest()[:32]


class DocumentCache:
    """Parsed documents by key, as one file each under ``directory/documents``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / _FOLDER

    def get(self, key: str) -> ParsedDocument | None:
        path = self.directory / f"{key}.pickle"
        if not path.is_file():
            return None
        try:
            with path.open("rb") as handle:
                parsed: ParsedDocument = pickle.load(handle)
            os.utime(path)  # used now: see UNUSED_FOR
        except Exception as exc:  # a damaged or foreign file is only a missing entry
            logger.warning("document cache %s unreadable (%s); reading the document", path, exc)
            return None
        return parsed

    def put(self, key: str, parsed: ParsedDocument) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                pickle.dump(parsed, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.directory / f"{key}.pickle")
            self._prune(time.time() - UNUSED_FOR)
        except OSError as exc:  # a cache that cannot be written only costs time
            logger.warning("cannot write the document cache in %s: %s", self.directory, exc)

    def _prune(self, before: float) -> None:
        for entry in self.directory.glob("*.pickle"):
            try:
                if entry.stat().st_mtime < before:
                    entry.unlink()
            except FileNotFoundError:  # another process pruned it first
                continue
