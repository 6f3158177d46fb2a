"""Reading a /template command's words: the subcommand, a template's name, its text, a
version number. Each refusal says what was wrong and what would do."""

from __future__ import annotations

import re

from bot.errors import UserInputError

MAX_NAME = 32
MAX_VERSION = 2**62  # versions count up from 1; a larger number names none
MAX_VERSION_DIGITS = 1_000
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_DIGITS = re.compile(r"[0-9]+")
_FIRST_WORD = re.compile(r"^\s*(\S+)(?:[ \t]*\n|[ \t]+|$)(.*)$", re.DOTALL)
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)


def split_first(text: str) -> tuple[str, str]:
    """The first word and the rest; a newline right after the word belongs to neither."""
    match = _FIRST_WORD.match(text)
    if not match:
        return "", ""
    return match.group(1), match.group(2)


def template_text(raw: str) -> str:
    """The template's text as typed: a surrounding ``` fence and blank edges dropped."""
    text = raw.strip("\n").rstrip()
    fenced = _FENCE.match(text.strip())
    if fenced:
        text = fenced.group(1).strip("\n").rstrip()
    return text


def check_name(raw: str) -> str:
    """A template name: a short slug (lower-cased), or a specific explanation."""
    if not raw:
        raise UserInputError("Which template? Give its name, e.g. /template show vetting")
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    if len(raw) > MAX_NAME:
        raise UserInputError(
            f"“{shown}” is too long for a template name: use at most {MAX_NAME} characters."
        )
    if not _NAME.match(raw):
        raise UserInputError(
            f"“{shown}” is not a template name: use letters, digits, - and _ only "
            "(e.g. weekly-vetting)."
        )
    return raw.lower()


def version_number(raw: str, name: str, required: bool) -> int | None:
    token = raw.strip().lower().removeprefix("v")
    if not token:
        if required:
            raise UserInputError(
                f"Which version? Send /template rollback {name} N; "
                f"/template history {name} lists them."
            )
        return None
    # ASCII digits only ("²".isdigit() is true but int() refuses it), and few enough of
    # them for int() (which refuses more than 4,300 digits).
    if not _DIGITS.fullmatch(token) or len(token) > MAX_VERSION_DIGITS or int(token) < 1:
        raise UserInputError(
            f"“{clipped(raw.strip())}” is not a version number. "
            f"/template history {name} lists them."
        )
    return int(token)


def clipped(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
