"""The core's replies as Discord messages: escaped markdown, split under Discord's limit.

Nothing here talks to Discord; :mod:`adapters.discord.bot` sends what this module renders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bot.messages import Button, Line, Reply, Span, paragraphs

MESSAGE_LIMIT = 2000  # Discord's limit on a message's content
# A page of a long answer is edited in place, so it must fit one message with its footer
# ("Page 12 of 12 · send /more for the next page").
PAGE_LIMIT = MESSAGE_LIMIT - 100
BUTTON_LABEL_LIMIT = 80
CUSTOM_ID_LIMIT = 100
BUTTON_PREFIX = "ib:"  # marks a button whose custom_id carries a core payload
MAX_ROWS = 5
MAX_BUTTONS_PER_ROW = 5

# As discord.utils.escape_mentions, plus any letter case: a zero-width space after the @.
_MENTION = re.compile(r"@(everyone|here|[!&]?[0-9]{15,21})", re.IGNORECASE)
# Bare URLs are left whole (escaping an underscore inside one would break the link). "<" is
# escaped so "<@123>", "<#1>", "<t:1:R>" and the like show as typed, never as a mention pill.
_INLINE = re.compile(r"(?P<url>(?:https?)://[^\s<]+[^<.,:;\"'\]\s)])|(?P<char>[\\*_~|`\[\]<])")
# Line-start markdown: headings, quotes, bullets, numbered lists ("1. Text" would lose its 1).
_LINE_START = re.compile(r"^(\s*)(?:([#>-])|(\d+)\.)", re.MULTILINE)
_ZERO_WIDTH_SPACE = "\u200b"
_URL_UNSAFE = "<>()[] \t\n\"'`"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: never less than Discord's own count."""
    return len(text.encode("utf-16-le")) // 2


def neutralise_mentions(text: str) -> str:
    """``@everyone`` and friends with a zero-width space after the @, so they cannot ping."""
    return _MENTION.sub(lambda m: "@" + _ZERO_WIDTH_SPACE + m.group(1), text)


def escape(text: str) -> str:
    """Text shown as written: markdown characters escaped, mentions neutralised."""
    text = _INLINE.sub(lambda m: m.group("url") or "\\" + m.group("char"), text)
    text = _LINE_START.sub(_escape_line_start, text)
    return neutralise_mentions(text)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker, number = match.group(1), match.group(2), match.group(3)
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\."


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link, made safe inside ``(<...>)``; else None."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return "".join(quote(c, safe="") if c in _URL_UNSAFE else c for c in url)


def _code(text: str) -> str:
    text = neutralise_mentions(text).replace("\n", " ")
    if "``" in text:
        return escape(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _styled(text: str, bold: bool, italic: bool) -> str:
    """Markers hug the words: Discord ignores ``** x**`` with inner spaces."""
    core = text.strip()
    if not core or not (bold or italic):
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    marker = ("**" if bold else "") + ("*" if italic else "")
    return f"{lead}{marker}{core}{marker[::-1]}{trail}"


def render_span(span: Span) -> str:
    if span.code:
        return _code(span.text)
    url = safe_url(span.link)
    label = _styled(escape(span.text), span.bold, span.italic)
    if url is None:
        return label
    if not span.text.strip() or span.text.strip() == (span.link or "").strip():
        return f"<{url}>"  # a bare link: angle brackets keep Discord from embedding a preview
    return f"[{label}](<{url}>)"


def render_line(line: Line) -> str:
    return "".join(render_span(span) for span in line)


def _split_span(span: Span, limit: int) -> list[str]:
    """One span's rendering in pieces of at most ``limit``, cut at spaces where possible."""
    rendered = render_span(span)
    if utf16_len(rendered) <= limit:
        return [rendered]
    text = span.text
    if len(text) < 2:
        return [rendered[:limit]]
    middle = len(text) // 2
    cut = text.rfind(" ", 0, middle + 1)
    if cut <= 0:
        cut = text.find(" ", middle)
    if cut <= 0:
        cut = middle
    halves = (text[:cut], text[cut:])
    return [
        piece
        for half in halves
        if half
        for piece in _split_span(Span(half, span.bold, span.italic, span.code, span.link), limit)
    ]


def _pack(pieces: list[str], limit: int, joiner: str) -> list[str]:
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}{joiner}{piece}" if current else piece
        if current and utf16_len(candidate) > limit:
            chunks.append(current)
            current = piece
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def _line_pieces(line: Line, limit: int) -> list[str]:
    rendered = render_line(line)
    if utf16_len(rendered) <= limit:
        return [rendered]
    spans = [piece for span in line for piece in _split_span(span, limit)]
    return _pack(spans, limit, "")


def _paragraph_pieces(paragraph: list[Line], limit: int) -> list[str]:
    whole = "\n".join(render_line(line) for line in paragraph)
    if utf16_len(whole) <= limit:
        return [whole]
    lines = [piece for line in paragraph for piece in _line_pieces(line, limit)]
    return _pack(lines, limit, "\n")


def rendered_length(lines: Sequence[Line]) -> int:
    """A run of lines as Discord counts it once rendered, with the newline after it."""
    return utf16_len("\n".join(render_line(line) for line in lines)) + 1


def split_message(lines: tuple[Line, ...], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Messages of at most ``limit``: whole paragraphs, else whole lines, else words."""
    blocks = [p for para in paragraphs(lines) for p in _paragraph_pieces(para, limit)]
    # Discord trims each message; an all-blank one would be refused.
    return [m.strip() for m in _pack(blocks, limit, "\n\n") if m.strip()]


@dataclass(frozen=True)
class RenderedButton:
    label: str
    custom_id: str
    payload: str


@dataclass(frozen=True)
class RenderedReply:
    messages: tuple[str, ...]
    buttons: tuple[tuple[RenderedButton, ...], ...]  # rows, sent with the last message


def button_label(label: str) -> str:
    label = label.strip() or "…"
    return label if len(label) <= BUTTON_LABEL_LIMIT else label[: BUTTON_LABEL_LIMIT - 1] + "…"


def render_button(button: Button) -> RenderedButton | None:
    """A button whose custom_id carries the payload, or None if the payload cannot fit."""
    custom_id = BUTTON_PREFIX + button.payload
    if len(custom_id) > CUSTOM_ID_LIMIT or not button.payload:
        return None
    return RenderedButton(button_label(button.label), custom_id, button.payload)


def render_buttons(rows: tuple[tuple[Button, ...], ...]) -> tuple[tuple[RenderedButton, ...], ...]:
    rendered: list[tuple[RenderedButton, ...]] = []
    for row in rows:
        kept = [b for b in (render_button(button) for button in row) if b is not None]
        if kept:
            rendered.append(tuple(kept[:MAX_BUTTONS_PER_ROW]))
    return tuple(rendered[:MAX_ROWS])


def render_reply(reply: Reply, limit: int = MESSAGE_LIMIT) -> RenderedReply:
    messages = split_message(reply.lines, limit) or ["(no text)"]
    return RenderedReply(tuple(messages), render_buttons(reply.buttons))
