"""Plain text: ``.txt`` files, UTF-8 (a byte-order mark is allowed)."""

from __future__ import annotations

from pathlib import Path

from bot.documents.readers.base import (
    MAX_TEXT_CHARS,
    PageProgress,
    ReadText,
    UnreadableDocument,
    check_size,
    check_text,
)


def read_utf8(path: Path) -> str:
    """The file's text, with its size and encoding checked."""
    check_size(path, MAX_TEXT_CHARS * 2)
    try:
        return check_text(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"not UTF-8 text ({exc.reason})") from exc


def read(path: Path, progress: PageProgress | None = None) -> ReadText:
    return ReadText(read_utf8(path))
