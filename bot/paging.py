"""Splits long replies into pages a chat can step through (/more, or buttons)."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.errors import Refusal, UserInputError
from bot.messages import Button, Line, Reply, Span, paragraphs

EXPIRED = "That list has expired. Send the command again to get it afresh."

# How long a run of lines is, as a platform counts it once rendered.
Measure = Callable[[Sequence[Line]], int]


@dataclass(frozen=True)
class _Paged:
    token: str
    pages: tuple[tuple[Line, ...], ...]
    first: Reply  # keeps citations, items and results of the whole answer


class Pager:
    """Remembers each chat's latest long reply (bounded: least recently used chats go first)."""

    def __init__(self, page_chars: int = 2800, max_chats: int = 10_000) -> None:
        self.page_chars = page_chars
        self.max_chats = max_chats
        self._chats: OrderedDict[str, _Paged] = OrderedDict()
        self._tokens = itertools.count(1)
        self.current: dict[str, int] = {}
        self._platforms: dict[str, tuple[int, Measure]] = {}

    def limit_platform(self, platform: str, size: int, measure: Measure) -> None:
        """Pages for this platform's chats: at most ``size`` as ``measure`` counts them.

        A platform that edits a page in place needs each page to fit one of its messages,
        and its markup is longer than the text alone.
        """
        self._platforms[platform] = (size, measure)

    def paginate(self, chat_key: str, reply: Reply) -> Reply:
        platform = chat_key.partition(":")[0]
        size, measure = self._platforms.get(platform, (self.page_chars, _length))
        if reply.pages > 1 or measure(reply.lines) <= size:
            return reply
        pages = _split(reply.lines, size, measure)
        paged = _Paged(str(next(self._tokens)), pages, reply)
        self._chats[chat_key] = paged
        self._chats.move_to_end(chat_key)
        while len(self._chats) > self.max_chats:
            evicted, _ = self._chats.popitem(last=False)
            self.current.pop(evicted, None)
        return self._page(chat_key, paged, 1)

    def more(self, chat_key: str) -> Reply:
        paged = self._chats.get(chat_key)
        if paged is None:
            raise UserInputError("There is nothing more to show. Ask a question or send /help.")
        current = self.current.get(chat_key, 1)
        if current >= len(paged.pages):
            raise UserInputError(
                f"That was the last page ({len(paged.pages)} of {len(paged.pages)})."
            )
        return self._page(chat_key, paged, current + 1)

    def page(self, chat_key: str, token: str, number: int) -> Reply:
        paged = self._chats.get(chat_key)
        if paged is None or paged.token != token or not 1 <= number <= len(paged.pages):
            raise Refusal(EXPIRED)
        return self._page(chat_key, paged, number)

    def _page(self, chat_key: str, paged: _Paged, number: int) -> Reply:
        self.current[chat_key] = number
        total = len(paged.pages)
        footer: Line = (Span(f"Page {number} of {total}", italic=True),)
        if number < total:
            footer += (Span(" · send /more for the next page", italic=True),)
        nav: list[Button] = []
        if number > 1:
            nav.append(Button("◀ Previous", f"/page {paged.token} {number - 1}"))
        if number < total:
            nav.append(Button("Next ▶", f"/page {paged.token} {number + 1}"))
        first = paged.first
        return replace(
            first,
            lines=(*paged.pages[number - 1], (), footer),
            buttons=((tuple(nav),) if nav else ()) + first.buttons,
            page=number,
            pages=total,
            items=first.items if number == 1 else (),
            results=first.results if number == 1 else (),
        )


def _length(lines: Sequence[Line]) -> int:
    return sum(len(span.text) for line in lines for span in line) + len(lines)


def _split(lines: tuple[Line, ...], limit: int, measure: Measure) -> tuple[tuple[Line, ...], ...]:
    pages: list[list[Line]] = [[]]
    size = 0
    for block in paragraphs(lines):
        block_size = measure(block) + 1
        if pages[-1] and size + block_size > limit:
            pages.append([])
            size = 0
        if pages[-1]:
            pages[-1].append(())
        pages[-1].extend(block)
        size += block_size
    return tuple(tuple(page) for page in pages)
