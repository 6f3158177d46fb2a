"""What the bot knows: documents, their sections, and the review's structure.

All plain frozen data, built once at start-up and shared by every chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DocumentMeta:
    id: str
    title: str
    outlet: str | None = None
    date: str | None = None  # ISO date, e.g. "2023-03-21"
    kind: str = "news"  # "report" or "news"
    url: str | None = None

    @property
    def source(self) -> str:
        """How a citation names the document: its outlet, else its title."""
        return self.outlet or self.title


@dataclass(frozen=True)
class Section:
    """A named span of a document's cleaned text (character offsets, end exclusive)."""

    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    meta: DocumentMeta
    text: str  # cleaned: no markup, no site furniture
    sections: tuple[Section, ...] = ()

    @property
    def id(self) -> str:
        return self.meta.id

    def section_at(self, offset: int) -> str | None:
        """The innermost (shortest) section holding the offset, if any."""
        best: Section | None = None
        for section in self.sections:
            if section.start <= offset < section.end:
                if best is None or (section.end - section.start) < (best.end - best.start):
                    best = section
        return best.title if best else None


@dataclass(frozen=True)
class Finding:
    number: int
    title: str
    text: str  # the whole body, without the title
    document_id: str


@dataclass(frozen=True)
class Recommendation:
    number: int
    title: str  # the first sentence (or the lead-in before its sub-points)
    text: str  # the whole recommendation, sub-points included
    theme: str
    points: tuple[str, ...]
    document_id: str
    number_inferred: bool = False  # the source lost the number; its place gave it


@dataclass(frozen=True)
class TocEntry:
    title: str
    page: int | None
    number: str | None = None  # "3.7", "9.ii", "Chapter 3", ...
    children: tuple[TocEntry, ...] = ()


@dataclass(frozen=True)
class ReviewStructure:
    findings: tuple[Finding, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    chapters: tuple[TocEntry, ...] = ()
    # "findings" and/or "recommendations": the report has them, but their numbering did not
    # hold together, so they are not listed (a wrong list is worse than none).
    unreadable: frozenset[str] = frozenset()

    @property
    def themes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for rec in self.recommendations:
            seen.setdefault(rec.theme, None)
        return tuple(seen)


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    structure: ReviewStructure = field(default_factory=ReviewStructure)

    def document(self, document_id: str) -> Document | None:
        for doc in self.documents:
            if doc.id == document_id:
                return doc
        return None
