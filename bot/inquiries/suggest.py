"""Suggestions while an argument is typed (Discord's autocomplete), from the chat's inquiry."""

from __future__ import annotations

from bot.messages import Suggestion
from bot.services import Services

MAX_SUGGESTIONS = 25  # Discord shows at most 25
LABEL_CHARS = 100


def _label(text: str) -> str:
    text = " ".join(text.split()) or "…"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def suggestions(services: Services, command: str, arg: str, typed: str) -> tuple[Suggestion, ...]:
    typed = typed.strip().lower()
    if command == "inquiry" and arg == "name":
        return _inquiries(services, typed)
    structure = services.corpus.structure
    if command == "finding":
        items = [(f.number, f.title) for f in structure.findings]
    elif command == "recommendation":
        items = [(r.number, r.title) for r in structure.recommendations]
    else:
        return ()
    found = [
        Suggestion(_label(f"{number} · {title}"), str(number))
        for number, title in items
        if not typed or str(number).startswith(typed) or typed in title.lower()
    ]
    return tuple(found[:MAX_SUGGESTIONS])


def _inquiries(services: Services, typed: str) -> tuple[Suggestion, ...]:
    catalogue = services.inquiries
    if catalogue is None:
        return ()
    found = [
        Suggestion(_label(f"{i.name} · {i.title}"), i.name)
        for i in catalogue
        if not typed or i.name.startswith(typed) or typed in i.title.lower()
    ]
    return tuple(found[:MAX_SUGGESTIONS])
