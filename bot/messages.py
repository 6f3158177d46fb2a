"""What crosses the boundary between the core and an adapter.

An adapter turns a platform update into an :class:`IncomingMessage`, hands it to the
core, and renders the :class:`Reply` it gets back. Nothing here knows any platform.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ChatKind(enum.StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


@dataclass(frozen=True)
class ChatRef:
    platform: str  # "console", "telegram", "discord"
    id: str
    kind: ChatKind = ChatKind.PRIVATE
    title: str | None = None

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True)
class SenderRef:
    id: str
    name: str = ""
    # Telegram lets a group admin post as the group itself: the platform vouches for them.
    anonymous_admin: bool = False


@dataclass(frozen=True)
class IncomingMessage:
    chat: ChatRef
    sender: SenderRef
    text: str
    from_button: bool = False  # the text is a button's payload, not typed


@dataclass(frozen=True)
class Span:
    """A run of text with one style. Links carry their target; adapters escape the text."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    link: str | None = None


Line = tuple[Span, ...]


@dataclass(frozen=True)
class Button:
    label: str
    payload: str  # a command the core understands, e.g. "/finding 4" or "/page 3 2"


@dataclass(frozen=True)
class Citation:
    document_id: str
    source: str
    title: str
    section: str | None = None
    url: str | None = None
    inquiry: str | None = None  # named when the bot serves several inquiries


@dataclass(frozen=True)
class Item:
    """A numbered piece of the review a reply is about (for structured output)."""

    kind: str  # "finding", "recommendation", "chapter"
    number: int | None
    title: str
    text: str


@dataclass(frozen=True)
class Result:
    """One search hit, for structured output."""

    document: str
    source: str
    text: str
    score: float
    also_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reply:
    lines: tuple[Line, ...]
    citations: tuple[Citation, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    items: tuple[Item, ...] = ()
    results: tuple[Result, ...] = ()
    page: int = 1
    pages: int = 1
    refusal: bool = False  # the bot declined; best shown to the asker alone
    # False when a question is not answered by the documents (the reply says so), and for
    # a search that found nothing; True for everything else.
    answered: bool = True

    @property
    def plain(self) -> str:
        return render_plain(self)


def render_plain(reply: Reply) -> str:
    """Plain text: links as "label (url)", no styling. Used by the console and JSON output."""
    out = []
    for line in reply.lines:
        parts = []
        for span in line:
            if span.link and span.link != span.text:
                parts.append(f"{span.text} ({span.link})")
            else:
                parts.append(span.text)
        out.append("".join(parts))
    return "\n".join(out).strip("\n")


def paragraphs(lines: tuple[Line, ...]) -> list[list[Line]]:
    """Runs of lines between blank ones: the units a reply is paged or split by."""
    found: list[list[Line]] = []
    current: list[Line] = []
    for line in lines:
        if any(span.text.strip() for span in line):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def text_reply(*paragraphs: str) -> Reply:
    """A reply of plain lines (blank lines between paragraphs)."""
    lines: list[Line] = []
    for i, para in enumerate(paragraphs):
        if i:
            lines.append(())
        lines.extend((Span(t),) if t else () for t in para.split("\n"))
    return Reply(lines=tuple(lines))


class DeliveryStatus(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # rate limited or a network error: try again later
    GONE = "gone"  # blocked, removed, chat deleted: never try again
    MOVED = "moved"  # the chat has a new id (Telegram group -> supergroup)
    FAILED = "failed"  # gave up after bounded retries


@dataclass(frozen=True)
class DeliveryOutcome:
    status: DeliveryStatus
    reason: str = ""
    retry_after: float | None = None  # seconds, when the platform said
    new_chat_id: str | None = None  # for MOVED

    @classmethod
    def delivered(cls) -> DeliveryOutcome:
        return cls(DeliveryStatus.DELIVERED)


@dataclass(frozen=True)
class CommandInfo:
    """What a platform's command menu needs to know about one command."""

    name: str
    summary: str
    usage: str
    args: tuple[ArgInfo, ...] = field(default_factory=tuple)
    moderator_only: bool = False


@dataclass(frozen=True)
class ArgInfo:
    name: str
    description: str
    kind: str = "text"  # "text" or "int"
    required: bool = False
    min_value: int | None = None
    max_value: int | None = None
    choices: tuple[str, ...] = ()
    suggested: bool = False  # the core suggests values as they are typed (BriefingBot.suggest)


@dataclass(frozen=True)
class Suggestion:
    """A value the core suggests for an argument being typed (platform autocomplete)."""

    label: str  # e.g. "10 · The Met should establish a charter…"
    value: str  # what the argument becomes: "10"
