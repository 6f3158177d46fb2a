"""Word documents (``.docx``), read with python-docx.

Paragraphs in order; a paragraph styled as a heading ("Heading 1", "Title") is a heading and
is passed on as a layout hint; list paragraphs keep a bullet so they stay sub-points; table
rows become lines. The title is the document's core "title" property, else its Title style.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError

from bot.documents.readers.base import (
    MAX_FILE_BYTES,
    PageProgress,
    ReadText,
    UnreadableDocument,
    check_size,
    check_text,
)
from bot.documents.structure import FormatHints


def read(path: Path, progress: PageProgress | None = None) -> ReadText:
    check_size(path, MAX_FILE_BYTES)
    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as exc:
        raise UnreadableDocument(f"not a readable Word document ({exc})") from exc
    lines: list[str] = []
    headings: list[str] = []
    title = (document.core_properties.title or "").strip() or None
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style.startswith("Heading") or style == "Title":
            headings.append(text)
            title = title or (text if style == "Title" else None)
        elif style.startswith("List Bullet"):
            text = f"• {text}"
        lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(" ".join(c.text.split()) for c in row.cells if c.text.strip()))
    return ReadText(check_text("\n\n".join(lines)), title, FormatHints(tuple(headings)))
