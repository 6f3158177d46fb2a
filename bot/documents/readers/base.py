"""What every reader returns, and the limits every reader keeps."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.documents.structure import FormatHints

PageProgress = Callable[[int, int], None]  # (pages read, pages in all)

# A whole inquiry report runs to a few MB of text (a 1,700-page report is about 8 MB); a
# bigger file is a mistake or several reports, and would make every start slow.
MAX_TEXT_CHARS = 12_000_000
MAX_FILE_BYTES = 300_000_000  # PDFs and Word files carry images; text files are held to less

# C0 control characters other than tab, line feed and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORD = re.compile(r"[^\W_]{2,}")


class UnreadableDocument(Exception):
    """A file that is not a readable document; the message says why, for the operator."""


@dataclass(frozen=True)
class ReadText:
    text: str
    title: str | None = None  # the title the document carries, if any
    hints: FormatHints = field(default_factory=FormatHints)


def check_size(path: Path, limit: int) -> int:
    size = path.stat().st_size
    if size > limit:
        raise UnreadableDocument(
            f"{_mb(size)} is more than the {_mb(limit)} a document may be; split it into "
            "parts (one file per volume or chapter)"
        )
    return size


def check_text(text: str) -> str:
    """Refuse text that is binary noise or too long; drop stray control characters."""
    if len(text) > MAX_TEXT_CHARS:
        raise UnreadableDocument(
            f"{len(text):,} characters of text is more than the {MAX_TEXT_CHARS:,} a document "
            "may have; split it into parts (one file per volume or chapter)"
        )
    controls = len(_CONTROL.findall(text))
    if controls and controls * 20 > len(text):
        raise UnreadableDocument("binary data, not text (it is mostly control characters)")
    text = _CONTROL.sub("", text) if controls else text
    if not _WORD.search(text):
        raise UnreadableDocument("no text: it holds no words")
    return text


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
