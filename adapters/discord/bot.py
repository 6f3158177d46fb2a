"""The Discord adapter over discord.py 2: slash commands, text and buttons in, replies out.

A chat is a Discord channel (or a DM). Slash commands are generated from the core's
command table; a slash command, a prefixed text command (``!findings``), a message that
starts by mentioning the bot, and a button press all become the text the core already
understands (``/findings``). No briefing logic lives here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.discord.answers import BUTTON_TIMEOUT, NO_MENTIONS, Answers, PayloadButton
from adapters.discord.chats import (
    ACTOR,
    PLATFORM,
    Actor,
    DiscordModerators,
    chat_ref,
    may_manage,
    sender_ref,
)
from adapters.discord.commands import slash_commands
from adapters.discord.delivery import DiscordSender
from adapters.discord.lib import app_commands, discord
from adapters.discord.render import PAGE_LIMIT, render_reply, rendered_length
from adapters.inbound import clean_text
from adapters.reconnect import START_BACKOFF, doubled
from bot.core import BriefingBot
from bot.errors import ConfigError
from bot.messages import IncomingMessage, Reply, Suggestion
from bot.ports import PlatformModerators

logger = logging.getLogger(__name__)

DEFER_AFTER = 2.0  # Discord wants a first answer to an interaction within 3 seconds
MAX_RATELIMIT_WAIT = 60.0  # longer waits come back to the scheduler as "retry later"
_TRUE = {"1", "true", "yes", "on"}

OnChatGone = Callable[[str, str], Awaitable[None]]  # (chat key, reason)


@dataclass(frozen=True)
class DiscordConfig:
    """Settings from the environment; ``from_env`` gives None when no token is set."""

    token: str
    guild_id: int | None = None
    prefix: str = "!"
    message_content: bool = False
    shards: Shards = field(default_factory=lambda: Shards())

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DiscordConfig | None:
        token = env.get("DISCORD_BOT_TOKEN", "").strip()
        if not token:
            return None
        raw_guild = env.get("DISCORD_GUILD_ID", "").strip()
        if raw_guild and not raw_guild.isdigit():
            raise ConfigError(f"DISCORD_GUILD_ID must be a server id (digits), not {raw_guild!r}")
        prefix = env.get("DISCORD_COMMAND_PREFIX", "!").strip() or "!"
        check_prefix(prefix)
        return cls(
            token=token,
            guild_id=int(raw_guild) if raw_guild else None,
            prefix=prefix,
            message_content=env.get("DISCORD_MESSAGE_CONTENT", "").strip().lower() in _TRUE,
            shards=Shards.from_env(env),
        )


@dataclass(frozen=True)
class Shards:
    """Which gateway shards this process runs (DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS).

    Unset (or ``auto``): as many shards as Discord recommends for the bot, all in this
    process. A number N: N shards across every process, this one running
    DISCORD_SHARD_IDS (all N if unset).
    """

    count: int | None = None  # None: Discord's recommendation, asked at connection
    ids: tuple[int, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Shards:
        raw_count = env.get("DISCORD_SHARD_COUNT", "").strip().lower()
        raw_ids = env.get("DISCORD_SHARD_IDS", "").strip()
        if raw_count in ("", "auto") and not raw_ids:
            return cls()
        if not raw_count.isdigit() or int(raw_count) < 1:
            raise ConfigError(
                f"DISCORD_SHARD_COUNT must be the number of shards across all processes "
                f"(1 or more; or auto, for one process), not {raw_count!r}"
            )
        count = int(raw_count)
        if not raw_ids:
            return cls(count, tuple(range(count)))
        parts = [p.strip() for p in raw_ids.split(",")]
        if not all(p.isdigit() and int(p) < count for p in parts) or len(set(parts)) < len(parts):
            raise ConfigError(
                f"DISCORD_SHARD_IDS must list this process's shards, each from 0 to "
                f"{count - 1} once, separated by commas (e.g. 0,1), not {raw_ids!r}"
            )
        return cls(count, tuple(int(p) for p in parts))

    def options(self) -> dict[str, Any]:
        """AutoShardedClient's arguments (none: it asks Discord how many shards to run)."""
        if self.count is None:
            return {}
        return {"shard_count": self.count, "shard_ids": list(self.ids or range(self.count))}


def check_prefix(prefix: str) -> None:
    if not prefix or len(prefix) > 5 or any(c.isspace() or c.isalnum() for c in prefix):
        raise ConfigError(
            f"DISCORD_COMMAND_PREFIX must be 1 to 5 symbols without spaces or letters, "
            f"not {prefix!r}"
        )


# ---------------------------------------------------------------------------------------
# The client and the adapter


class DiscordClient(discord.AutoShardedClient):
    """discord.py's AutoShardedClient with the adapter's event handlers and command tree.

    Sharded always: by default it runs as many shards as Discord recommends (one for a bot
    in fewer than 2,500 servers), so a growing bot needs no change; DISCORD_SHARD_COUNT and
    DISCORD_SHARD_IDS split the shards over several processes.
    """

    def __init__(
        self,
        adapter: DiscordAdapter,
        intents: discord.Intents,
        max_ratelimit_timeout: float,
        shards: Shards,
    ) -> None:
        super().__init__(
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_messages=None,
            max_ratelimit_timeout=max_ratelimit_timeout,
            **shards.options(),
        )
        self.adapter = adapter
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.answer_message(message)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.adapter.guild_removed(guild)

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self.adapter.chats_gone([channel.id], f"channel #{channel.name} deleted")


class DiscordAdapter:
    """The bot on Discord. ``start()`` logs in, registers slash commands and connects.

    ``sender`` delivers the scheduler's digests; ``moderators`` is registered with the
    core's :class:`PlatformModerators`; ``on_chat_gone(chat_key, reason)`` is awaited for
    each channel of a server the bot was removed from (and for a deleted channel).
    """

    def __init__(
        self,
        bot: BriefingBot,
        token: str,
        *,
        prefix: str = "!",
        guild_id: int | None = None,
        message_content: bool = False,
        on_chat_gone: OnChatGone | None = None,
        button_timeout: float = BUTTON_TIMEOUT,
        defer_after: float = DEFER_AFTER,
        max_ratelimit_timeout: float = MAX_RATELIMIT_WAIT,
        shards: Shards | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        start_backoff: float = START_BACKOFF,
    ) -> None:
        check_prefix(prefix)
        self.sleep = sleep
        self.start_backoff = start_backoff
        self.bot = bot
        self.token = token
        self.prefix = prefix
        self.guild_id = guild_id
        self.message_content = message_content
        self.on_chat_gone = on_chat_gone
        self.button_timeout = button_timeout
        self.defer_after = defer_after
        shards = shards or Shards()
        self.client = DiscordClient(self, self._intents(), max_ratelimit_timeout, shards)
        self.client.add_dynamic_items(PayloadButton)
        self.answers = Answers(button_timeout)
        self.sender = DiscordSender(self.client, self.answers)
        self.moderators = DiscordModerators(self.client)
        self.commands = slash_commands(bot.table.menu(), self._suggest, self._run_slash)
        for command in self.commands:
            self.client.tree.add_command(command, guild=self._guild())
        self._runner: asyncio.Task[None] | None = None
        self._opened = False  # login was tried: the client has something to close
        self._register_moderators()
        bot.services.pager.limit_platform(PLATFORM, PAGE_LIMIT, rendered_length)

    @classmethod
    def from_config(cls, bot: BriefingBot, config: DiscordConfig, **options: Any) -> DiscordAdapter:
        return cls(
            bot,
            config.token,
            prefix=config.prefix,
            guild_id=config.guild_id,
            message_content=config.message_content,
            shards=config.shards,
            **options,
        )

    # -- life cycle ---------------------------------------------------------------------

    async def login(self) -> None:
        """Check the token with Discord and register the slash commands (no gateway yet)."""
        self._opened = True
        await self.client.login(self.token)

    async def start(self) -> None:
        """Log in, register slash commands, and connect to the gateway in a task.

        While Discord cannot be reached (no network, DNS down, its servers failing) it says
        so in one line and tries again, backing off up to once a minute, until it gets
        through or is cancelled; a refused token is a configuration error at once.
        """
        backoff = self.start_backoff
        while True:
            try:
                await self.login()
                break
            except discord.LoginFailure:
                raise ConfigError(
                    "Discord refused the bot token: check DISCORD_BOT_TOKEN (Developer "
                    "Portal, your application, Bot, Reset Token)"
                ) from None
            except (OSError, TimeoutError, discord.DiscordServerError) as err:
                # aiohttp's connection errors are OSErrors too.
                wait, backoff = backoff, doubled(backoff)
                logger.warning(
                    "could not reach Discord (%s: %s); trying again in %.0f s",
                    type(err).__name__,
                    _first_line(str(err)),
                    wait,
                )
                await self._discard_session()
                await self.sleep(wait)
        self._runner = asyncio.create_task(self._connect(), name="discord-gateway")

    async def _discard_session(self) -> None:
        """Close the failed try's connections. The session's connector closes with it, and
        discord.py makes a new one at the next login only when none is set."""
        await self.client.http.close()
        self.client.http.connector = discord.utils.MISSING

    async def stop(self) -> None:
        """Close the gateway with code 1000, so Discord ends the session (shown offline)."""
        self.answers.stop()
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            # The connection's task stops first, so nothing takes the close for a reason
            # to reconnect. discord.py's close then cancels each shard's reader before
            # closing its socket with 1000: a close made while a read waits would go to
            # the reader, which closes with 4000 (resumable), and the bot would stay
            # online, to Discord, until the session timed out.
            runner.cancel()
            await asyncio.wait({runner})
        if self._opened:  # AutoShardedClient's close needs what login set up
            await self.client.close()
        if runner is not None and not runner.cancelled() and runner.exception() is not None:
            logger.error(
                "the Discord connection had ended with an error", exc_info=runner.exception()
            )

    async def wait_closed(self) -> None:
        """Until the gateway connection ends (an error, such as a bad intent, is raised)."""
        if self._runner is not None:
            await asyncio.shield(self._runner)

    async def setup(self) -> None:
        """Called once by discord.py after login: say how text is read, sync commands."""
        if self.message_content:
            logger.info(
                "Discord: message content intent on: slash commands, %s-prefixed commands "
                "and questions that mention the bot are answered",
                self.prefix,
            )
        else:
            logger.info(
                "Discord: message content intent off: running on slash commands; text is "
                "read only in DMs and in messages that start by mentioning the bot. Enable "
                "the intent in the developer portal and set DISCORD_MESSAGE_CONTENT=1 for "
                "%s-prefixed commands in channels",
                self.prefix,
            )
        await self.sync_commands()

    async def sync_commands(self) -> int:
        """Register the slash commands: in the configured server, else globally."""
        where = f"in server {self.guild_id}" if self.guild_id else "globally"
        try:
            synced = await self.client.tree.sync(guild=self._guild())
        except discord.HTTPException as err:
            logger.error(
                "could not register Discord slash commands %s: %s (is the bot in that server, "
                "invited with the applications.commands scope?)",
                where,
                err,
            )
            return 0
        logger.info("registered %d Discord slash commands %s", len(synced), where)
        return len(synced)

    async def _connect(self) -> None:
        try:
            await self.client.connect()
        except discord.PrivilegedIntentsRequired:
            logger.error(
                "Discord refused the message content intent: enable it for the bot in the "
                "developer portal, or unset DISCORD_MESSAGE_CONTENT"
            )
            raise

    # -- incoming ---------------------------------------------------------------------------

    async def _suggest(
        self, interaction: discord.Interaction[Any], command: str, arg: str, typed: str
    ) -> Sequence[Suggestion]:
        chat = chat_ref(
            interaction.channel, interaction.channel_id or 0, interaction.guild_id, interaction.user
        )
        return await self.bot.suggest(chat, command, arg, typed)

    async def _run_slash(self, interaction: discord.Interaction[Any], text: str) -> None:
        await self.answer_interaction(interaction, text, from_button=False)

    async def answer_interaction(
        self, interaction: discord.Interaction[Any], text: str, *, from_button: bool
    ) -> None:
        """A slash command or a button press: the core's reply as the interaction's answer."""
        chat = chat_ref(
            interaction.channel, interaction.channel_id or 0, interaction.guild_id, interaction.user
        )
        message = IncomingMessage(chat, sender_ref(interaction.user), clean_text(text), from_button)
        manages = may_manage(interaction.permissions) if interaction.guild_id else None
        token = ACTOR.set(Actor(chat.id, str(interaction.user.id), manages))
        try:
            reply = await self._handle_in_time(interaction, message)
        finally:
            ACTOR.reset(token)
        try:
            await self.answers.respond(interaction, reply)
        except discord.HTTPException as err:
            logger.warning("could not answer a Discord interaction in %s: %s", chat.key, err)

    async def _handle_in_time(
        self, interaction: discord.Interaction[Any], message: IncomingMessage
    ) -> Reply | None:
        """The core's reply; if it is slow, Discord is told "thinking…" before its deadline.

        A button press is deferred as an update of its message (Discord shows no new
        message), so the page it asks for can still replace the one pressed.
        """
        task = asyncio.ensure_future(self.bot.handle(message))
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if not done:
            try:
                await interaction.response.defer(thinking=not message.from_button)
            except discord.HTTPException as err:
                logger.warning("could not defer a Discord interaction: %s", err)
        return await task

    async def answer_message(self, message: discord.Message) -> None:
        """A text message: answered if it is a command for us, a mention, or in a DM."""
        if message.author.bot or message.webhook_id is not None or self.client.user is None:
            return
        text = self.command_text(message)
        if text is None:
            return
        guild_id = message.guild.id if message.guild else getattr(message.channel, "guild_id", None)
        chat = chat_ref(message.channel, message.channel.id, guild_id, message.author)
        author = message.author
        manages = (
            may_manage(author.guild_permissions) if isinstance(author, discord.Member) else None
        )
        token = ACTOR.set(Actor(chat.id, str(author.id), manages))
        try:
            reply = await self.bot.handle(IncomingMessage(chat, sender_ref(author), text))
        finally:
            ACTOR.reset(token)
        if reply is None:
            return
        try:
            await self.answers.send_to_channel(message.channel, render_reply(reply))
        except discord.HTTPException as err:
            logger.info("could not answer in Discord channel %s: %s", chat.id, err)

    def command_text(self, message: discord.Message) -> str | None:
        """The core's text for a message, or None when the message is not for this bot."""
        me = self.client.user
        content = clean_text(message.content).strip()
        mentioned = False
        if me is not None:
            for form in (f"<@{me.id}>", f"<@!{me.id}>"):
                if content.startswith(form):
                    content, mentioned = content[len(form) :].strip(), True
                    break
        private = message.guild is None and message.channel.type == discord.ChannelType.private
        if content.startswith(self.prefix):
            rest = content[len(self.prefix) :]
            name = re.match(r"[A-Za-z][A-Za-z0-9_]*", rest)
            # Another bot's "!play" in a shared channel is not ours to answer.
            if name and (mentioned or private or self.bot.table.get(name.group(0))):
                return "/" + rest
        if mentioned or private:
            return content
        return None

    # -- chats that are gone ------------------------------------------------------------------

    async def guild_removed(self, guild: discord.Guild) -> None:
        channels = [
            c.id
            for c in (*guild.channels, *guild.threads)
            if isinstance(c, discord.abc.Messageable)
        ]
        logger.info("removed from Discord server %s: %d channels", guild.id, len(channels))
        await self.chats_gone(channels, f"bot removed from server {guild.name}")

    async def chats_gone(self, channel_ids: Sequence[int], reason: str) -> None:
        if self.on_chat_gone is None:
            return
        for channel_id in channel_ids:
            try:
                await self.on_chat_gone(f"{PLATFORM}:{channel_id}", reason)
            except Exception:
                logger.exception("could not deactivate Discord channel %s", channel_id)

    # -- helpers ------------------------------------------------------------------------------

    def _intents(self) -> discord.Intents:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = self.message_content
        return intents

    def _guild(self) -> discord.abc.Snowflake | None:
        return discord.Object(self.guild_id) if self.guild_id else None

    def _register_moderators(self) -> None:
        moderators = self.bot.services.moderators
        if isinstance(moderators, PlatformModerators):
            moderators.register(PLATFORM, self.moderators)
        else:
            logger.warning(
                "the core's moderator check is %s, not PlatformModerators: Discord "
                "moderator-only commands are not checked against Manage Server",
                type(moderators).__name__,
            )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "no details"
