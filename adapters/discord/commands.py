"""Discord slash commands generated from the core's command table, with typed options.

``/recommendation number:10`` is an integer option bounded by the number of
recommendations, with autocomplete by number or title; invoking it runs ``run(interaction,
"/recommendation 10")``, the text the core already understands.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from adapters.discord.lib import app_commands, discord
from bot.messages import ArgInfo, CommandInfo
from bot.model import ReviewStructure

logger = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 100
MAX_CHOICES = 25
MAX_OPTIONS = 25
MAX_COMMANDS = 100
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")

SlashRunner = Callable[[discord.Interaction[Any], str], Awaitable[None]]


def _limit(text: str, size: int) -> str:
    text = " ".join(text.split()) or "…"
    return text if len(text) <= size else text[: size - 1] + "…"


def numbered_items(command: str, structure: ReviewStructure) -> tuple[tuple[int, str], ...]:
    """The numbered things a command's number option picks from (findings, recommendations)."""
    if command == "finding":
        return tuple((f.number, f.title) for f in structure.findings)
    if command == "recommendation":
        return tuple((r.number, r.title) for r in structure.recommendations)
    return ()


def number_choices(items: Sequence[tuple[int, str]], typed: str) -> list[app_commands.Choice[int]]:
    """Autocomplete: numbers starting with what was typed, or titles containing it."""
    typed = typed.strip().lower()
    matches = [
        (number, title)
        for number, title in items
        if not typed or str(number).startswith(typed) or typed in title.lower()
    ]
    return [
        app_commands.Choice(name=_limit(f"{number} · {title}", DESCRIPTION_LIMIT), value=number)
        for number, title in matches[:MAX_CHOICES]
    ]


def _annotation(arg: ArgInfo, items: Sequence[tuple[int, str]]) -> Any:
    if arg.kind != "int":
        return str
    low = arg.min_value
    high = arg.max_value if arg.max_value is not None else (len(items) or None)
    if low is None and high is None:
        return int
    return app_commands.Range[int, low, high]


def _describe(info: CommandInfo, arg: ArgInfo, items: Sequence[tuple[int, str]]) -> str:
    if arg.kind == "int" and items:
        return f"Which {info.name}: 1 to {len(items)} (type a number or words of its title)"
    return arg.description or arg.name


def _autocomplete(items: Sequence[tuple[int, str]]) -> Callable[..., Awaitable[Any]]:
    async def complete(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[int]]:
        return number_choices(items, str(current or ""))

    return complete


def slash_command(
    info: CommandInfo, structure: ReviewStructure, run: SlashRunner
) -> app_commands.Command[Any, ..., None]:
    """One slash command whose options are the command's arguments, typed."""
    args = [a for a in info.args if _NAME.match(a.name)][:MAX_OPTIONS]
    items = numbered_items(info.name, structure)

    async def callback(interaction: discord.Interaction[Any], **values: Any) -> None:
        given = [str(values[a.name]) for a in args if values.get(a.name) not in (None, "")]
        await run(interaction, " ".join([f"/{info.name}", *given]))

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    descriptions: dict[str, str] = {}
    choices: dict[str, list[app_commands.Choice[str]]] = {}
    completers: dict[str, Callable[..., Awaitable[Any]]] = {}
    for arg in args:
        parameters.append(
            inspect.Parameter(
                arg.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(arg, items),
                default=inspect.Parameter.empty if arg.required else None,
            )
        )
        descriptions[arg.name] = _limit(_describe(info, arg, items), DESCRIPTION_LIMIT)
        if arg.choices and arg.kind != "int":
            choices[arg.name] = [
                app_commands.Choice(name=_limit(c, DESCRIPTION_LIMIT), value=c[:DESCRIPTION_LIMIT])
                for c in arg.choices[:MAX_CHOICES]
            ]
        elif arg.kind == "int" and items:
            completers[arg.name] = _autocomplete(items)
    # discord.py reads options from the callback's signature and these attributes, the same
    # ones its @describe, @choices and @autocomplete decorators set.
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_autocomplete__ = completers  # type: ignore[attr-defined]
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=info.name,
        description=_limit(info.summary, DESCRIPTION_LIMIT),
        callback=callback,
    )
    if info.moderator_only:
        # Only a hint for the server's menu (admins can change it); the core checks anyway.
        command.default_permissions = discord.Permissions(manage_guild=True)
    return command


def slash_commands(
    menu: Sequence[CommandInfo], structure: ReviewStructure, run: SlashRunner
) -> list[app_commands.Command[Any, ..., None]]:
    commands = []
    for info in menu:
        if not _NAME.match(info.name):
            logger.warning("/%s cannot be a Discord slash command: skipped", info.name)
            continue
        commands.append(slash_command(info, structure, run))
    if len(commands) > MAX_COMMANDS:
        dropped = len(commands) - MAX_COMMANDS
        logger.warning("Discord takes %d slash commands: %d dropped", MAX_COMMANDS, dropped)
    return commands[:MAX_COMMANDS]
