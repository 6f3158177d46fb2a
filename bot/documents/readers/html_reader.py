"""Web pages (``.html``, ``.htm``): only the main content, read with trafilatura.

trafilatura finds the page's main text and leaves out navigation, cookie banners,
breadcrumbs, "related content", feedback widgets and footers. It renders to Markdown, which
the Markdown reader turns into lines and layout hints, so headings and list items stay lines.
A list of links to the page's own anchors ("On this page") is its contents, taken out first.
Numbered lists are numbered in the page first, because the Markdown rendering restarts every
list at 1 (``<ol start="3">`` would lose its 3). The title is the page's ``og:title`` or
``<title>``, as trafilatura reads it.
"""

from __future__ import annotations

from pathlib import Path

import lxml.html
import trafilatura

from bot.documents.readers.base import (
    MAX_TEXT_CHARS,
    PageProgress,
    ReadText,
    UnreadableDocument,
    check_size,
    check_text,
)
from bot.documents.readers.markdown_reader import CONTENTS_TITLE, markdown_to_text
from bot.documents.structure import FormatHints
from bot.model import TocEntry

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


def read(path: Path, progress: PageProgress | None = None) -> ReadText:
    check_size(path, MAX_TEXT_CHARS * 4)
    return html_to_text(path.read_bytes())


def html_to_text(page: bytes | str) -> ReadText:
    try:
        tree = lxml.html.document_fromstring(page)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise UnreadableDocument(f"not an HTML page ({exc})") from exc
    contents = _take_anchor_lists(tree)
    _number_ordered_lists(tree)
    markdown = trafilatura.extract(
        tree,
        output_format="markdown",
        include_formatting=True,
        include_links=True,
        include_tables=True,
        include_comments=False,
        include_images=False,
    )
    if not markdown:
        raise UnreadableDocument("no main text found in the page")
    read = markdown_to_text(check_text(markdown))
    metadata = trafilatura.extract_metadata(tree)
    title = metadata.title if metadata is not None and metadata.title else read.title
    hints = FormatHints(read.hints.headings, read.hints.contents or contents)
    return ReadText(read.text, title, hints)


def _take_anchor_lists(tree: lxml.html.HtmlElement) -> tuple[TocEntry, ...]:
    """Take out lists made only of links to the page's own anchors, with a heading such as
    "Contents" or "On this page" just above; the first is the page's contents."""
    contents: tuple[TocEntry, ...] = ()
    for listing in list(tree.iter("ul", "ol")):
        items = [item for item in listing if item.tag == "li"]
        links = [_anchor_text(item) for item in items]
        if len(items) < 2 or not all(links):
            continue
        heading = listing.getprevious()
        if heading is not None and heading.tag in _HEADINGS:
            if CONTENTS_TITLE.fullmatch(" ".join(heading.text_content().split())):
                heading.drop_tree()
        contents = contents or tuple(TocEntry(str(text), None) for text in links)
        listing.drop_tree()
    return contents


def _anchor_text(item: lxml.html.HtmlElement) -> str | None:
    """The text of an item that is nothing but a link to an anchor on the page."""
    anchors = item.findall(".//a")
    if len(anchors) != 1 or not (anchors[0].get("href") or "").startswith("#"):
        return None
    text = " ".join(item.text_content().split())
    return text if text and text == " ".join(anchors[0].text_content().split()) else None


def _number_ordered_lists(tree: lxml.html.HtmlElement) -> None:
    """Write each item's number into its text, as paragraphs numbered as printed."""
    for ordered in list(tree.iter("ol")):
        number = _start(ordered.get("start"))
        for item in ordered:
            if item.tag != "li":
                continue
            item.text = f"{number}. {item.text or ''}"
            item.tag = "p"
            number += 1
        ordered.tag = "div"


def _start(value: str | None) -> int:
    try:
        return int(value) if value else 1
    except ValueError:
        return 1
