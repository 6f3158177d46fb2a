"""The limits on chat templates, and the cheap checks the bot makes before a template's
words are searched or a worker parses it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jinja2
from jinja2.exceptions import TemplateSyntaxError
from jinja2.lexer import get_lexer
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.errors import RendererStopped, UserInputError

MAX_SOURCE_CHARS = 8_000
MAX_OUTPUT_CHARS = 16_000
CUT_OFF_NOTE = "\n… (cut off at {limit:,} characters)"
_LONGEST_ENTITY = 10  # "&#x1F600;" and the like: autoescape writes far shorter ones
MAX_NESTING = 32
RENDER_TIMEOUT = 2.0  # seconds per render, parsing included
MEMORY_LIMIT = 256 * 1024 * 1024  # bytes of address space per worker
WORKERS = 2
BATCH_SIZE = 250  # renders per request: amortises IPC, lets other chats in between batches
SLICE = 1.0  # seconds a worker spends on one request's renders before others get a turn

# A chat's fair share of the workers (renders it asks for: /briefing, previews, checks on save)
MAX_PENDING_PER_CHAT = 2  # renders rendering or waiting; one more is refused at once
CHAT_RENDER_SECONDS = 10.0  # worker seconds a chat may use in a burst, and each
CHAT_BUDGET_WINDOW = 60.0  # this many seconds after that
PASS_BUDGET = 20.0  # seconds a digest pass may spend on chats' templates; the rest get the built-in

MAX_REPEAT = 100_000  # items a string or list may be repeated to in one step
MAX_INT_BITS = 100_000  # bits of an integer built with * or **
MAX_WIDTH = 1_000  # padding and format widths
MAX_DATE_FORMAT = 64

SEARCH_KEY = "search"  # context key whose precomputed results become the search() function
NOW_KEY = "now"
DEFAULT_SEARCH_K = 3
SEARCH_NOTE = (
    'search() needs its words written in the template in quotes, like search("vetting", 3): '
    "the results are looked up before the template runs"
)


class TemplateRejected(UserInputError):
    """The template cannot be saved or rendered; ``reason`` says why, for its author."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line else reason)


class TemplateTimeout(TemplateRejected):
    """The render ran past the time limit and its worker was killed."""


class TemplateOutOfTime(TemplateRejected):
    """A digest pass ran out of time before these renders started.

    ``outputs`` has one entry per context asked for: the output of those rendered in time,
    None for the others.
    """

    def __init__(self, reason: str, outputs: Sequence[Any]) -> None:
        super().__init__(reason)
        self.outputs = list(outputs)


class TemplateBusy(UserInputError):
    """This chat has used its share of the template workers for now; it should wait."""


class SandboxClosed(UserInputError, RendererStopped):
    """The sandbox is closed (the bot is stopping): nothing more is rendered."""

    def __init__(self) -> None:
        super().__init__("The bot is stopping, so templates are not rendered now; try again "
                         "in a minute.")


_OPENERS = {"lparen": "rparen", "lbracket": "rbracket", "lbrace": "rbrace"}
_LEXING_ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def template_tokens(source: str) -> list[jinja2.lexer.Token]:
    """The template's tokens (tag and expression parts; text between tags is one token)."""
    return list(get_lexer(_LEXING_ENV).tokenize(source))


def precheck(source: str) -> None:
    """Refuse what is too big or too deeply nested before any worker parses it."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateRejected(
            f"the template is {len(source):,} characters long; the limit is "
            f"{MAX_SOURCE_CHARS:,}"
        )
    if not source.strip():
        raise TemplateRejected("the template is empty")
    try:
        tokens = template_tokens(source)
    except TemplateSyntaxError as err:
        raise TemplateRejected(err.message or "syntax error", err.lineno) from None
    except (ValueError, RecursionError):
        return  # the worker will report it with its line
    depth = 0
    for token in tokens:
        if token.type in _OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise TemplateRejected(
                    f"brackets are nested more than {MAX_NESTING} deep", token.lineno
                )
        elif token.type in _OPENERS.values():
            depth = max(0, depth - 1)


def cut_off(markup: str, limit: int) -> str:
    """Output past ``limit`` characters cut off there, saying so.

    A tag or an entity cut in half would show as text, so the cut moves back before it.
    """
    head = markup[:limit]
    if head.rfind("<") > head.rfind(">"):
        head = head[: head.rfind("<")]
    amp = head.rfind("&")
    if amp != -1 and len(head) - amp <= _LONGEST_ENTITY and ";" not in head[amp:]:
        head = head[:amp]
    return head + CUT_OFF_NOTE.format(limit=limit)


def search_key(words: str, k: int) -> str:
    """How precomputed search results are keyed, the same in the parent and the worker."""
    return f"{k}|{' '.join(words.lower().split())}"
