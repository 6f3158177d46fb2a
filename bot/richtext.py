"""Turns the small markup that templates write into a reply's styled lines.

Templates (built-in and moderators') write a tiny HTML subset: <b>, <i>, <code>, <a href>.
Jinja2's autoescape escapes every value put into a template, so text from documents and
users can never become markup; this parser is the only way markup becomes style, and each
adapter escapes span text again for its own platform.
"""

from __future__ import annotations

import html
import re

from bot.messages import Line, Span

_STYLE_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "code": "code"}
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^<>]*)>")
_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)


class _Builder:
    """Collects styled spans line by line while the markup is scanned."""

    def __init__(self) -> None:
        self.lines: list[list[Span]] = [[]]
        self.depth = {"bold": 0, "italic": 0, "code": 0}
        self.links: list[str | None] = []

    def tag(self, closing: bool, name: str, attrs: str) -> None:
        name = name.lower()
        if name in _STYLE_TAGS:
            style = _STYLE_TAGS[name]
            self.depth[style] = max(0, self.depth[style] + (-1 if closing else 1))
        elif name == "a":
            if closing:
                if self.links:
                    self.links.pop()
            else:
                self.links.append(_safe_href(attrs))
        elif name == "br":
            self.lines.append([])

    def text(self, data: str) -> None:
        if not data:
            return
        if "&" in data:
            data = html.unescape(data)
        link = self.links[-1] if self.links else None
        depth = self.depth
        bold, italic, code = depth["bold"] > 0, depth["italic"] > 0, depth["code"] > 0
        if "\n" not in data:
            self.lines[-1].append(Span(data, bold, italic, code, link))
            return
        for i, piece in enumerate(data.split("\n")):
            if i:
                self.lines.append([])
            if piece:
                self.lines[-1].append(Span(piece, bold, italic, code, link))


def _safe_href(attrs: str) -> str | None:
    match = _HREF.search(attrs)
    if not match:
        return None
    href = html.unescape(next(g for g in match.groups() if g is not None)).strip()
    return href if href.lower().startswith(_SAFE_SCHEMES) else None


def _scan(markup: str) -> list[list[Span]]:
    builder = _Builder()
    position = 0
    for match in _TAG.finditer(markup):
        builder.text(markup[position : match.start()])
        builder.tag(match.group(1) == "/", match.group(2), match.group(3))
        position = match.end()
    builder.text(markup[position:])
    return builder.lines


def parse(markup: str) -> tuple[Line, ...]:
    """Styled lines from template output; runs of blank lines fold to one."""
    lines: list[Line] = []
    for raw in _scan(markup):
        line = _merge(_rstrip(raw))
        if not line and (not lines or not lines[-1]):
            continue
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return tuple(lines)


def _rstrip(spans: list[Span]) -> list[Span]:
    while spans and not spans[-1].text.strip():
        spans.pop()
    if spans:
        last = spans[-1]
        spans[-1] = Span(last.text.rstrip(), last.bold, last.italic, last.code, last.link)
    return spans


def _merge(spans: list[Span]) -> Line:
    """Adjacent spans of the same style become one, so adapters emit fewer tags."""
    out: list[Span] = []
    for span in spans:
        if out and _same_style(out[-1], span):
            prev = out[-1]
            out[-1] = Span(prev.text + span.text, prev.bold, prev.italic, prev.code, prev.link)
        else:
            out.append(span)
    return tuple(out)


def _same_style(a: Span, b: Span) -> bool:
    return (a.bold, a.italic, a.code, a.link) == (b.bold, b.italic, b.code, b.link)
