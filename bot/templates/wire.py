"""What crosses the pipe between the bot and a sandbox worker: length-prefixed JSON frames,
and styled lines encoded as plain lists (decoded with their shape checked)."""

from __future__ import annotations

import struct
from typing import Any

from bot.messages import Line, Span

MAX_FRAME = 4 * 1024 * 1024
HEADER = struct.Struct(">I")


class WorkerGone(Exception):
    """The worker died, was killed, or broke the protocol."""


def encode_lines(lines: tuple[Line, ...]) -> list[list[list[str]]]:
    """Styled lines as JSON: each span is [text], [text, flags] or [text, flags, link]."""
    encoded = []
    for line in lines:
        spans = []
        for span in line:
            flags = ("b" if span.bold else "") + ("i" if span.italic else "")
            flags += "c" if span.code else ""
            if span.link is not None:
                spans.append([span.text, flags, span.link])
            else:
                spans.append([span.text, flags] if flags else [span.text])
        encoded.append(spans)
    return encoded


class LineDecoder:
    """The inverse of :func:`encode_lines`, checking the shape (a worker is not trusted).

    Spans are immutable and chats' briefings share most of theirs (the same
    recommendations, the same passages), so each distinct span is built once per batch.
    """

    def __init__(self) -> None:
        self._spans: dict[tuple[str, str, str | None], Span] = {}

    def lines(self, raw: Any) -> tuple[Line, ...]:
        try:
            return tuple(tuple(self._span(span) for span in line) for line in raw)
        except (TypeError, ValueError, IndexError, KeyError) as err:
            raise WorkerGone(f"malformed lines: {err}") from None

    def _span(self, raw: Any) -> Span:
        text = raw[0]
        flags = raw[1] if len(raw) > 1 else ""
        link = raw[2] if len(raw) > 2 else None
        key = (text, flags, link)
        span = self._spans.get(key)
        if span is None:
            if not (isinstance(text, str) and isinstance(flags, str)):
                raise TypeError("span text and flags must be strings")
            if link is not None and not isinstance(link, str):
                raise TypeError("a span's link must be a string")
            span = Span(text, bold="b" in flags, italic="i" in flags, code="c" in flags, link=link)
            self._spans[key] = span
        return span

