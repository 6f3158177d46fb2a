"""Markdown (``.md``), parsed with markdown-it-py (CommonMark, with tables).

Headings, paragraphs and list items become lines of their own (headings are passed on as
layout hints); emphasis, code marks and link targets go, link text stays. A list made only of
links to the document's own anchors (``1. [Introduction](#introduction)``) is its contents:
it is taken out of the text and handed on as the contents. The first ``#`` heading is the
document's title. The web page reader renders pages to Markdown and reads them here too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.documents.readers.base import PageProgress, ReadText
from bot.documents.readers.text_reader import read_utf8
from bot.documents.structure import FormatHints
from bot.model import TocEntry

_SPACES = re.compile(r"[ \t]+")
# Headings that introduce a list of links to the document's own parts.
CONTENTS_TITLE = re.compile(
    r"(?:table of )?contents:?|on this page|in this (?:report|section|chapter|document)"
    r"|jump to|skip to",
    re.IGNORECASE,
)
_PARSER = MarkdownIt("commonmark").enable("table")


def read(path: Path, progress: PageProgress | None = None) -> ReadText:
    return markdown_to_text(read_utf8(path))


def markdown_to_text(source: str) -> ReadText:
    writer = _Writer()
    writer.write(_PARSER.parse(source))
    return ReadText(
        "\n".join(writer.out).strip(),
        writer.title,
        FormatHints(tuple(writer.headings), tuple(writer.contents)),
    )


def inline_text(token: Token) -> str:
    """The words of an inline token: link text kept, images, HTML and marks dropped."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return _SPACES.sub(" ", "".join(parts)).strip()


@dataclass
class _List:
    ordered: bool
    number: int


@dataclass
class _Writer:
    out: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    contents: list[TocEntry] = field(default_factory=list)
    title: str | None = None
    lists: list[_List] = field(default_factory=list)
    marker: str | None = None  # the list item marker waiting for its first paragraph
    row: list[str] | None = None

    def write(self, tokens: Sequence[Token]) -> None:
        i = 0
        while i < len(tokens):
            i = self._token(tokens, i)

    def _block(self, text: str, tight: bool = False) -> None:
        if not text:
            return
        if self.out and not tight:
            self.out.append("")
        self.out.append(text)

    def _token(self, tokens: Sequence[Token], i: int) -> int:
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            text = inline_text(tokens[i + 1])
            if token.tag == "h1" and self.title is None:
                self.title = text
            if CONTENTS_TITLE.fullmatch(text) and _link_list_follows(tokens, i + 3):
                return i + 3  # the contents heading goes with its list
            self.headings.append(text)
            self._block(text)
            return i + 3
        if kind in ("bullet_list_open", "ordered_list_open"):
            close = _matching_close(tokens, i)
            if not self.lists and _is_link_list(tokens[i:close]):
                self.contents.extend(_link_entries(tokens[i:close]))
                return close + 1
            start = int(str(token.attrs.get("start", 1)))
            self.lists.append(_List(kind == "ordered_list_open", start))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            current = self.lists[-1]
            self.marker = f"{current.number}." if current.ordered else "•"
            current.number += 1
        elif kind == "inline" and self.row is not None:
            self.row.append(inline_text(token))
        elif kind == "inline":
            self._paragraph(inline_text(token))
        elif kind in ("fence", "code_block", "html_block"):
            self._block(token.content.strip())
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close" and self.row is not None:
            self._block(" | ".join(cell for cell in self.row if cell), tight=True)
            self.row = None
        return i + 1

    def _paragraph(self, text: str) -> None:
        if self.marker is not None:
            self._block(f"{self.marker} {text}", tight=bool(self.out))
            self.marker = None
        else:
            self._block(text, tight=bool(self.lists))


def _matching_close(tokens: Sequence[Token], i: int) -> int:
    depth = 0
    for k in range(i, len(tokens)):
        depth += tokens[k].nesting
        if depth == 0:
            return k
    return len(tokens) - 1


def _link_list_follows(tokens: Sequence[Token], i: int) -> bool:
    if i >= len(tokens) or tokens[i].type not in ("bullet_list_open", "ordered_list_open"):
        return False
    return _is_link_list(tokens[i : _matching_close(tokens, i)])


def _is_link_list(tokens: Sequence[Token]) -> bool:
    """Every item of the list is just a link to an anchor in this document."""
    inlines = [t for t in tokens if t.type == "inline"]
    return len(inlines) >= 2 and all(_only_anchor_link(t) for t in inlines)


def _only_anchor_link(token: Token) -> bool:
    children = [c for c in token.children or () if c.type != "text" or c.content.strip()]
    if len(children) < 3 or children[0].type != "link_open" or children[-1].type != "link_close":
        return False
    href = str(children[0].attrs.get("href", ""))
    return href.startswith("#") or href.startswith("./#")


def _link_entries(tokens: Sequence[Token]) -> list[TocEntry]:
    """The links as contents entries; a nested list's links are children of the item above."""
    entries: list[tuple[TocEntry, list[TocEntry]]] = []
    depth = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "inline":
            entry = TocEntry(inline_text(token), None)
            if depth > 1 and entries:
                entries[-1][1].append(entry)
            else:
                entries.append((entry, []))
    return [TocEntry(e.title, None, e.number, tuple(children)) for e, children in entries]
