"""Turns the small markup that templates write into a reply's styled lines.

Templates (built-in and moderators') write a tiny HTML subset: <b>, <i>, <code>, <a href>.
Jinja2's autoescape escapes every value put into a template, so text from documents and
users can never become markup; this parser is the only way markup becomes style, and each
adapter escapes span text again for its own platform.
"""

from __future__ import annotations

from html.parser import HTMLParser

from bot.messages import Line, Span

_STYLE_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "code": "code"}
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[list[Span]] = [[]]
        self.depth = {"bold": 0, "italic": 0, "code": 0}
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _STYLE_TAGS:
            self.depth[_STYLE_TAGS[tag]] += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append(href if href.lower().startswith(_SAFE_SCHEMES) else None)
        elif tag == "br":
            self.lines.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in _STYLE_TAGS:
            style = _STYLE_TAGS[tag]
            self.depth[style] = max(0, self.depth[style] - 1)
        elif tag == "a" and self.links:
            self.links.pop()

    def handle_data(self, data: str) -> None:
        link = self.links[-1] if self.links else None
        for i, piece in enumerate(data.split("\n")):
            if i:
                self.lines.append([])
            if piece:
                self.lines[-1].append(
                    Span(
                        piece,
                        bold=self.depth["bold"] > 0,
                        italic=self.depth["italic"] > 0,
                        code=self.depth["code"] > 0,
                        link=link,
                    )
                )


def parse(markup: str) -> tuple[Line, ...]:
    """Styled lines from template output; runs of blank lines fold to one."""
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    lines: list[Line] = []
    for raw in parser.lines:
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
