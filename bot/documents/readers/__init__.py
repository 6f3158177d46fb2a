"""One reader per document format; each turns a file into plain text with its layout hints.

A reader is a function ``read(path, progress) -> ReadText``. Adding a format is adding a
module here with ``read`` and naming its suffixes in ``_BY_SUFFIX``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from bot.documents.readers.base import (
    MAX_FILE_BYTES,
    MAX_TEXT_CHARS,
    PageProgress,
    ReadText,
    UnreadableDocument,
)

Reader = Callable[[Path, PageProgress | None], ReadText]

# Each format's module, imported only when a file of that format is read: the PDF and web
# page libraries take a while to import, and most starts read nothing but the cache.
_BY_SUFFIX = {
    ".txt": "text_reader",
    ".md": "markdown_reader",
    ".markdown": "markdown_reader",
    ".html": "html_reader",
    ".htm": "html_reader",
    ".pdf": "pdf_reader",
    ".docx": "docx_reader",
}
SUFFIXES = tuple(_BY_SUFFIX)


def reader_for(path: Path) -> Reader | None:
    name = _BY_SUFFIX.get(path.suffix.lower())
    if name is None:
        return None
    read: Reader = import_module(f"bot.documents.readers.{name}").read
    return read


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TEXT_CHARS",
    "SUFFIXES",
    "PageProgress",
    "ReadText",
    "Reader",
    "UnreadableDocument",
    "reader_for",
]
