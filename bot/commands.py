"""The command table: one list of commands drives the router, /help and platform menus."""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from bot.errors import MODERATORS, NotAModerator
from bot.messages import ArgInfo, CommandInfo, IncomingMessage, Reply
from bot.ports import PlatformModerators
from bot.services import Services


@dataclass(frozen=True)
class Context:
    """What a handler gets: the message, the services, and how the command was called."""

    message: IncomingMessage
    services: Services
    command: str

    async def require_moderator(self, what: str = "change this chat's settings") -> None:
        if self.message.sender.anonymous_admin:
            return
        moderators = self.services.moderators
        if not await moderators.is_moderator(self.message.chat, self.message.sender):
            who = MODERATORS
            if isinstance(moderators, PlatformModerators):
                who = moderators.who(self.message.chat)
            raise NotAModerator(what, who)


Handler = Callable[[Context, str], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    summary: str  # one line, for menus and /help
    usage: str  # e.g. "/recommendation N"
    handler: Handler
    group: str = "Briefings"
    aliases: tuple[str, ...] = ()
    args: tuple[ArgInfo, ...] = ()
    details: str = ""  # more help for "/help name"
    examples: tuple[str, ...] = ()
    moderator_only: bool = False  # shown in help; the handler still checks
    hidden: bool = False  # not listed in menus (paging commands)

    @property
    def info(self) -> CommandInfo:
        return CommandInfo(self.name, self.summary, self.usage, self.args, self.moderator_only)


@dataclass(frozen=True)
class CommandTable:
    commands: tuple[Command, ...]
    _by_name: dict[str, Command] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Command] = {}
        for command in self.commands:
            for name in (command.name, *command.aliases):
                if name in by_name:
                    raise ValueError(f"command /{name} is defined twice")
                by_name[name] = command
        object.__setattr__(self, "_by_name", by_name)

    def get(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def visible(self) -> Iterable[Command]:
        return (c for c in self.commands if not c.hidden)

    def menu(self) -> tuple[CommandInfo, ...]:
        """What Telegram's command menu and Discord's slash commands are built from."""
        return tuple(c.info for c in self.visible())

    def closest(self, name: str) -> list[str]:
        names = [n for c in self.visible() for n in (c.name, *c.aliases)]
        return difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.5)
