"""Discord slash commands generated from the core's command table, with typed options.

``/recommendation number:10`` is an integer option with autocomplete by number or title
from the chat's own inquiry (so it has no fixed range: each inquiry has its own count, and
a number out of range gets the core's reply); invoking it runs ``run(interaction,
"/recommendation 10")``, the text the core already understands. Every argument the core
marks ``suggested`` (``/inquiry name:`` too) autocompletes from ``BriefingBot.suggest``.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from adapters.discord.lib import app_commands, discord
from bot.messages import ArgInfo, CommandInfo, Suggestion

logger = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 100
MAX_CHOICES = 25
MAX_OPTIONS = 25
MAX_COMMANDS = 100
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")

SlashRunner = Callable[[discord.Interaction[Any], str], Awaitable[None]]
# (interaction, command, argument, typed so far) -> the core's suggestions for that chat
Suggest = Callable[[discord.Interaction[Any], str, str, str], Awaitable[Sequence[Suggestion]]]


def _limit(text: str, size: int) -> str:
    text = " ".join(text.split()) or "…"
    return text if len(text) <= size else text[: size - 1] + "…"


def _annotation(arg: ArgInfo) -> Any:
    if arg.kind != "int":
        return str
    if arg.min_value is None and arg.max_value is None:
        return int
    return app_commands.Range[int, arg.min_value, arg.max_value]


def _describe(info: CommandInfo, arg: ArgInfo) -> str:
    if arg.kind == "int" and arg.suggested:
        return f"Which {info.name} (type a number or words of its title)"
    return arg.description or arg.name


def _autocomplete(command: str, arg: ArgInfo, suggest: Suggest) -> Callable[..., Awaitable[Any]]:
    async def complete(interaction: discord.Interaction[Any], current: str) -> list[Any]:
        found = await suggest(interaction, command, arg.name, str(current or ""))
        if arg.kind == "int":
            return [
                app_commands.Choice(name=s.label[:DESCRIPTION_LIMIT], value=int(s.value))
                for s in found[:MAX_CHOICES]
                if s.value.isdigit()
            ]
        return [
            app_commands.Choice(name=s.label[:DESCRIPTION_LIMIT], value=s.value)
            for s in found[:MAX_CHOICES]
        ]

    return complete


def slash_command(
    info: CommandInfo, suggest: Suggest, run: SlashRunner
) -> app_commands.Command[Any, ..., None]:
    """One slash command whose options are the command's arguments, typed."""
    args = [a for a in info.args if _NAME.match(a.name)][:MAX_OPTIONS]

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
                annotation=_annotation(arg),
                default=inspect.Parameter.empty if arg.required else None,
            )
        )
        descriptions[arg.name] = _limit(_describe(info, arg), DESCRIPTION_LIMIT)
        if arg.choices and arg.kind != "int":
            choices[arg.name] = [
                app_commands.Choice(name=_limit(c, DESCRIPTION_LIMIT), value=c[:DESCRIPTION_LIMIT])
                for c in arg.choices[:MAX_CHOICES]
            ]
        elif arg.suggested:
            completers[arg.name] = _autocomplete(info.name, arg, suggest)
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
    menu: Sequence[CommandInfo], suggest: Suggest, run: SlashRunner
) -> list[app_commands.Command[Any, ..., None]]:
    commands = []
    for info in menu:
        if not _NAME.match(info.name):
            logger.warning("/%s cannot be a Discord slash command: skipped", info.name)
            continue
        commands.append(slash_command(info, suggest, run))
    if len(commands) > MAX_COMMANDS:
        dropped = len(commands) - MAX_COMMANDS
        logger.warning("Discord takes %d slash commands: %d dropped", MAX_COMMANDS, dropped)
    return commands[:MAX_COMMANDS]
