"""Replies as Telegram HTML messages: escaped, split under Telegram's length limit, with buttons.

Telegram counts a message's length in UTF-16 code units (an emoji outside the Basic
Multilingual Plane counts twice) and refuses messages over 4,096 of them. We measure the
HTML source, which is never shorter than the text Telegram counts, so every chunk fits.
Each span is rendered with its own opening and closing tags, so a chunk boundary between
spans can never fall inside a tag.
"""

from __future__ import annotations

import html
import itertools
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Line, Reply, Span, paragraphs

MESSAGE_LIMIT = 4096  # UTF-16 code units
CALLBACK_DATA_LIMIT = 64  # bytes
MAX_LINK_CHARS = 2048
PARAGRAPH = "\n\n"
LINE = "\n"

_TOKEN = re.compile(r"\S+\s*|\s+")
_TAG = re.compile(r"<[^>]*>")
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}
# Leave room at a hard cut inside a word so that a combining mark or joiner can stay with
# the character before it.
_CLUSTER_SLACK = 16


def utf16_len(text: str) -> int:
    """The length Telegram sees: characters beyond U+FFFF take two UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def safe_link(url: str | None) -> str | None:
    """The link if it is an http(s) URL we are willing to show, else None (text only)."""
    if not url:
        return None
    url = url.strip()
    if len(url) > MAX_LINK_CHARS or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


_STYLE_TAGS = {
    (bold, italic, code): (
        "".join(f"<{t}>" for t, on in (("b", bold), ("i", italic), ("code", code)) if on),
        "".join(f"</{t}>" for t, on in (("code", code), ("i", italic), ("b", bold)) if on),
    )
    for bold in (False, True)
    for italic in (False, True)
    for code in (False, True)
}


def _tags(span: Span) -> tuple[str, str]:
    if not span.link:  # most spans: the tags come from a table of the eight styles
        return _STYLE_TAGS[(span.bold, span.italic, span.code)]
    opening: list[str] = []
    closing: list[str] = []
    link = safe_link(span.link)
    if link:
        opening.append(f'<a href="{html.escape(link, quote=True)}">')
        closing.append("</a>")
    for flag, tag in ((span.bold, "b"), (span.italic, "i"), (span.code, "code")):
        if flag:
            opening.append(f"<{tag}>")
            closing.append(f"</{tag}>")
    return "".join(opening), "".join(reversed(closing))


def _escape(text: str) -> str:
    # The three characters Telegram's HTML mode needs escaped, as html.escape(quote=False).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def span_html(span: Span) -> str:
    if not span.text:
        return ""
    opening, closing = _tags(span)
    return opening + _escape(span.text) + closing


def line_html(line: Line) -> str:
    return "".join([span_html(span) for span in line])


def html_to_plain(chunk: str) -> str:
    """The text of a chunk we rendered, without markup (the fallback when Telegram refuses it)."""
    return html.unescape(_TAG.sub("", chunk))


class _Packer:
    """Fills chunks in order; the caller decides where a new chunk must start."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[str] = []
        self.parts: list[str] = []
        self.size = 0

    def fits(self, size: int, separator: str) -> bool:
        return self.size + size + (len(separator) if self.parts else 0) <= self.limit

    def add(self, text: str, size: int, separator: str) -> None:
        if self.parts:
            self.parts.append(separator)
            self.size += len(separator)
        self.parts.append(text)
        self.size += size

    def flush(self) -> None:
        if self.parts:
            self.chunks.append("".join(self.parts))
        self.parts = []
        self.size = 0


def render_html(reply: Reply, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The reply as Telegram HTML chunks, each at most ``limit`` UTF-16 code units.

    Chunks end at paragraph ends where possible, else at line ends; a single line longer than
    the limit is cut between words (inside a word only if the word alone is too long).
    """
    packer = _Packer(limit)
    for paragraph in paragraphs(reply.lines):
        rendered = [line_html(line) for line in paragraph]
        whole = LINE.join(rendered)
        size = utf16_len(whole)
        if not packer.fits(size, PARAGRAPH):
            packer.flush()
        if size <= limit:
            packer.add(whole, size, PARAGRAPH)
            continue
        _pack_long_paragraph(packer, paragraph, rendered)
    packer.flush()
    return packer.chunks


def _pack_long_paragraph(packer: _Packer, paragraph: list[Line], rendered: list[str]) -> None:
    separator = PARAGRAPH
    for line, text in zip(paragraph, rendered, strict=True):
        size = utf16_len(text)
        if not packer.fits(size, separator):
            packer.flush()
        if size <= packer.limit:
            packer.add(text, size, separator)
        else:
            for piece in split_line(line, packer.limit):
                packer.flush()
                packer.add(piece, utf16_len(piece), separator)
        separator = LINE


def split_line(line: Line, limit: int) -> list[str]:
    """An over-long line as HTML pieces of at most ``limit`` units, tags closed and reopened."""
    pieces: list[str] = []
    runs: list[tuple[Span, list[str]]] = []
    size = 0

    def close_piece() -> None:
        pieces.append(
            "".join(span_html(replace(span, text="".join(words))) for span, words in runs)
        )
        runs.clear()

    for original in line:
        span = _fit_span(original, limit)
        opening, closing = _tags(span)
        overhead = utf16_len(opening + closing)
        for word in _words(span.text, limit - overhead):
            cost = utf16_len(_escape(word))
            same_run = bool(runs) and runs[-1][0] is span
            extra = cost if same_run else cost + overhead
            if runs and size + extra > limit:
                close_piece()
                size, same_run, extra = 0, False, cost + overhead
            if same_run:
                runs[-1][1].append(word)
            else:
                runs.append((span, [word]))
            size += extra
    if runs:
        close_piece()
    return pieces


def _fit_span(span: Span, limit: int) -> Span:
    """The span, without its link if the tags alone would take half a message."""
    opening, closing = _tags(span)
    if utf16_len(opening + closing) * 2 > limit:
        return replace(span, link=None)
    return span


def _words(text: str, max_units: int) -> list[str]:
    words: list[str] = []
    for token in _TOKEN.findall(text):
        if utf16_len(_escape(token)) <= max_units:
            words.append(token)
        else:
            words.extend(_hard_split(token, max_units))
    return words


def _hard_split(token: str, max_units: int) -> list[str]:
    """A word too long for one message, cut by characters, keeping clusters whole if it can."""
    soft = max_units - _CLUSTER_SLACK if max_units > 2 * _CLUSTER_SLACK else max_units
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for ch in token:
        cost = utf16_len(_escape(ch))
        joins = bool(current) and (_joins_previous(ch) or current[-1] == "\u200d")
        if current and (size + cost > max_units or (size + cost > soft and not joins)):
            parts.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += cost
    if current:
        parts.append("".join(current))
    return parts


def _joins_previous(ch: str) -> bool:
    return ch in _JOINERS or unicodedata.combining(ch) != 0 or "\U0001f3fb" <= ch <= "\U0001f3ff"


class CallbackTable:
    """Button payloads too long for Telegram's 64-byte callback data, kept briefly under a short id.

    A pressed id that has expired (or was never ours) maps to None and is answered as expired.
    """

    PREFIX = "#"

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = 24 * 3600.0,
        max_entries: int = 20_000,
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._ids = itertools.count(1)

    def data_for(self, payload: str) -> str:
        if len(payload.encode()) <= CALLBACK_DATA_LIMIT and not payload.startswith(self.PREFIX):
            return payload
        key = f"{self.PREFIX}{next(self._ids):x}"
        self._entries[key] = (self.clock() + self.ttl, payload)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return key

    def payload_for(self, data: str) -> str | None:
        """The payload behind a button's callback data; None if it is not one we can honour."""
        if not data.startswith(self.PREFIX):
            return data if data.startswith("/") else None
        entry = self._entries.get(data)
        if entry is None or entry[0] < self.clock():
            self._entries.pop(data, None)
            return None
        return entry[1]


def keyboard(reply: Reply, callbacks: CallbackTable) -> InlineKeyboardMarkup | None:
    rows = [
        [
            InlineKeyboardButton(
                button.label or button.payload, callback_data=callbacks.data_for(button.payload)
            )
            for button in row
        ]
        for row in reply.buttons
        if row
    ]
    return InlineKeyboardMarkup(rows) if rows else None
