"""Compact citations for search hits, short enough for a phone: "Casey Review · Finding 2".

The full title, outlet, date and link of each document are in /sources; a hit names only
its outlet (or a shortened title) and, inside the report, the finding, recommendation or
section it sits in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.model import DocumentMeta

_SHORT_SOURCE = 32
_SHORT_SECTION = 40
_ASIDE_RE = re.compile(r"\s*\([^)]*\)\s*$")  # "Casey Review (via WatNews)" -> "Casey Review"
_NUMBERED_RE = re.compile(r"^(Finding|Recommendation)\s+(\d+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Place:
    """A numbered finding or recommendation a passage sits in: opened by /finding N."""

    kind: str  # "finding" or "recommendation"
    number: int

    @property
    def label(self) -> str:
        return f"{self.kind.capitalize()} {self.number}"

    @property
    def command(self) -> str:
        return f"/{self.kind} {self.number}"


def short_source(meta: DocumentMeta) -> str:
    """The outlet without asides, else the title, cut at a word to about 32 characters."""
    return _shortened(_ASIDE_RE.sub("", meta.outlet or meta.title) or meta.source, _SHORT_SOURCE)


def place_of(section: str | None) -> Place | None:
    match = _NUMBERED_RE.match(section or "")
    if match is None:
        return None
    return Place(match.group(1).lower(), int(match.group(2)))


def short_section(section: str | None) -> str | None:
    """"Finding 7: Discrimination is tolerated, …" -> "Finding 7"; others cut short."""
    if not section:
        return None
    place = place_of(section)
    return place.label if place else _shortened(section, _SHORT_SECTION)


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:–-")
    return f"{cut}…"
