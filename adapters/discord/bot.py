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
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.discord.commands import slash_commands
from adapters.discord.lib import app_commands, discord
from adapters.discord.render import (
    BUTTON_PREFIX,
    PAGE_LIMIT,
    RenderedButton,
    RenderedReply,
    render_reply,
    rendered_length,
)
from adapters.inbound import clean_optional, clean_text
from bot.core import BriefingBot
from bot.errors import ConfigError
from bot.messages import (
    ChatKind,
    ChatRef,
    DeliveryOutcome,
    DeliveryStatus,
    IncomingMessage,
    Reply,
    SenderRef,
)
from bot.ports import PlatformModerators

logger = logging.getLogger(__name__)

PLATFORM = "discord"
BUTTON_TIMEOUT = 600.0  # seconds; under the 15 minutes an interaction's token may edit its reply
DEFER_AFTER = 2.0  # Discord wants a first answer to an interaction within 3 seconds
MAX_RATELIMIT_WAIT = 60.0  # longer waits come back to the scheduler as "retry later"
NO_MENTIONS = discord.AllowedMentions.none()

# Errors after which a channel will never accept our messages again.
GONE_CODES = {
    50001: "missing access",
    50013: "missing permissions",
    50007: "cannot send messages to this user",
    10003: "unknown channel",
}
_TRUE = {"1", "true", "yes", "on"}

OnChatGone = Callable[[str, str], Awaitable[None]]  # (chat key, reason)


@dataclass(frozen=True)
class DiscordConfig:
    """Settings from the environment; ``from_env`` gives None when no token is set."""

    token: str
    guild_id: int | None = None
    prefix: str = "!"
    message_content: bool = False

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
        )


def check_prefix(prefix: str) -> None:
    if not prefix or len(prefix) > 5 or any(c.isspace() or c.isalnum() for c in prefix):
        raise ConfigError(
            f"DISCORD_COMMAND_PREFIX must be 1 to 5 symbols without spaces or letters, "
            f"not {prefix!r}"
        )


# ---------------------------------------------------------------------------------------
# Who is asking: chats, senders and moderators


@dataclass(frozen=True)
class _Actor:
    """The person behind the event being handled, with what Discord said about them."""

    chat_id: str
    user_id: str
    manages_server: bool | None  # None: the event did not say


# Set while a message or interaction is handled, so the moderator check reads the
# permissions Discord sent with that very event.
_ACTOR: ContextVar[_Actor | None] = ContextVar("discord_actor", default=None)


def chat_ref(
    channel: object, channel_id: int, guild_id: int | None, user: discord.abc.User
) -> ChatRef:
    """The core's chat for a Discord channel: private only for a DM with the bot.

    Anything unsure (an uncached channel of a server) is a group, where only members with
    Manage Server moderate.
    """
    if guild_id is None and getattr(channel, "type", None) == discord.ChannelType.private:
        title = clean_text(f"DM with {user.name}")
        return ChatRef(PLATFORM, str(channel_id), ChatKind.PRIVATE, title)
    guild = getattr(channel, "guild", None)
    parts = (getattr(guild, "name", None), getattr(channel, "name", None))
    title = " #".join(p for p in parts if isinstance(p, str) and p) or None
    return ChatRef(PLATFORM, str(channel_id), ChatKind.GROUP, clean_optional(title))


def sender_ref(user: discord.abc.User) -> SenderRef:
    return SenderRef(str(user.id), clean_text(user.display_name))


def _may_manage(permissions: discord.Permissions) -> bool:
    return permissions.manage_guild or permissions.administrator


class DiscordModerators:
    """Members with Manage Server (or Administrator), checked when the command runs.

    In a DM the user runs their own chat. Discord's default command permissions are only
    a hint a server admin can override, so the check happens here, on every command.
    """

    who = "members with the Manage Server permission"  # named in the core's refusal

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def is_moderator(self, chat: ChatRef, sender: SenderRef) -> bool:
        if chat.platform != PLATFORM:
            return False
        if chat.kind == ChatKind.PRIVATE:
            return True
        actor = _ACTOR.get()
        if (
            actor is not None
            and actor.chat_id == chat.id
            and actor.user_id == sender.id
            and actor.manages_server is not None
        ):
            return actor.manages_server
        return await self._look_up(chat, sender)

    async def _look_up(self, chat: ChatRef, sender: SenderRef) -> bool:
        if not (chat.id.isdigit() and sender.id.isdigit()):
            return False
        guild = getattr(self.client.get_channel(int(chat.id)), "guild", None)
        if not isinstance(guild, discord.Guild):
            return False
        member = guild.get_member(int(sender.id))
        if member is None:
            try:
                member = await guild.fetch_member(int(sender.id))
            except discord.HTTPException as err:
                logger.info(
                    "could not look up member %s in server %s: %s", sender.id, guild.id, err
                )
                return False
        return _may_manage(member.guild_permissions)


# ---------------------------------------------------------------------------------------
# Buttons


class PayloadButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.escape(BUTTON_PREFIX) + r"(?P<payload>/.+)",
):
    """A button whose custom_id carries the core command it stands for.

    It is matched by pattern, so a press is answered even after the view timed out or the
    bot restarted; the core checks the payload (a stale page token gets "expired").
    """

    def __init__(self, label: str, payload: str, row: int | None = None) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label, custom_id=BUTTON_PREFIX + payload, style=discord.ButtonStyle.secondary
        )
        super().__init__(button, row=row)
        self.payload = payload

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> PayloadButton:
        return cls(getattr(item, "label", None) or "…", match["payload"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = interaction.client
        if isinstance(client, DiscordClient):
            await client.adapter.answer_interaction(interaction, self.payload, from_button=True)


SentMessage = discord.Message | discord.InteractionMessage | discord.WebhookMessage
_THINKING = discord.InteractionResponseType.deferred_channel_message


def _is_press(interaction: discord.Interaction[Any]) -> bool:
    return interaction.type is discord.InteractionType.component and isinstance(
        interaction.message, discord.Message
    )


class ReplyView(discord.ui.View):
    """The buttons under a reply; when it times out they are shown disabled."""

    def __init__(
        self,
        rows: tuple[tuple[RenderedButton, ...], ...],
        timeout: float,
        on_finished: Callable[[ReplyView], None],
    ) -> None:
        super().__init__(timeout=timeout)
        for number, row in enumerate(rows):
            for button in row:
                self.add_item(PayloadButton(button.label, button.payload, row=number))
        self.message: SentMessage | None = None
        self._on_finished = on_finished

    def disable(self) -> None:
        for item in self.children:
            if isinstance(item, PayloadButton):
                item.item.disabled = True

    async def on_timeout(self) -> None:
        self._on_finished(self)
        self.disable()
        if self.message is None:
            return
        try:
            await self.message.edit(view=self)
        except discord.HTTPException as err:
            logger.debug("could not disable the buttons of message %s: %s", self.message.id, err)


# ---------------------------------------------------------------------------------------
# Delivery


def delivery_outcome(err: Exception) -> DeliveryOutcome:
    """How a failed send went, for the scheduler."""
    if isinstance(err, discord.RateLimited):
        return DeliveryOutcome(DeliveryStatus.RETRY, "rate limited", retry_after=err.retry_after)
    if isinstance(err, discord.HTTPException):
        reason = f"HTTP {err.status}" + (f" (code {err.code})" if err.code else "")
        reason += f": {err.text}" if err.text else ""
        if err.status in (403, 404) and err.code in GONE_CODES:
            return DeliveryOutcome(DeliveryStatus.GONE, f"{GONE_CODES[err.code]} ({err.code})")
        if err.status == 429:
            return DeliveryOutcome(DeliveryStatus.RETRY, reason, retry_after=_retry_after(err))
        if err.status >= 500:
            return DeliveryOutcome(DeliveryStatus.RETRY, reason)
        # Any other 4xx: the same request would fail the same way.
        return DeliveryOutcome(DeliveryStatus.FAILED, reason)
    return DeliveryOutcome(DeliveryStatus.RETRY, f"network error: {err!r}")


def _retry_after(err: discord.HTTPException) -> float | None:
    headers = getattr(err.response, "headers", None) or {}
    try:
        return float(headers.get("Retry-After", ""))
    except ValueError:
        return None


_NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


class DiscordSender:
    """Sends the scheduler's replies to channels; one request tells a dead channel."""

    platform = PLATFORM

    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        if not chat_id.isdigit():
            return DeliveryOutcome(DeliveryStatus.FAILED, f"not a Discord channel id: {chat_id!r}")
        channel = self.adapter.client.get_partial_messageable(int(chat_id))
        try:
            await self.adapter.send_to_channel(channel, render_reply(reply))
        except (discord.HTTPException, discord.RateLimited, *_NETWORK_ERRORS) as err:
            outcome = delivery_outcome(err)
            logger.info("Discord channel %s: %s (%s)", chat_id, outcome.status, outcome.reason)
            return outcome
        return DeliveryOutcome.delivered()


# ---------------------------------------------------------------------------------------
# The client and the adapter


class DiscordClient(discord.Client):
    """discord.py's client with the adapter's event handlers and a command tree."""

    def __init__(
        self, adapter: DiscordAdapter, intents: discord.Intents, max_ratelimit_timeout: float
    ) -> None:
        super().__init__(
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_messages=None,
            max_ratelimit_timeout=max_ratelimit_timeout,
        )
        self.adapter = adapter
        self.tree: app_commands.CommandTree[DiscordClient] = app_commands.CommandTree(self)

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
    ) -> None:
        check_prefix(prefix)
        self.bot = bot
        self.token = token
        self.prefix = prefix
        self.guild_id = guild_id
        self.message_content = message_content
        self.on_chat_gone = on_chat_gone
        self.button_timeout = button_timeout
        self.defer_after = defer_after
        self.client = DiscordClient(self, self._intents(), max_ratelimit_timeout)
        self.client.add_dynamic_items(PayloadButton)
        self.sender = DiscordSender(self)
        self.moderators = DiscordModerators(self.client)
        self.commands = slash_commands(
            bot.table.menu(), bot.services.corpus.structure, self._run_slash
        )
        for command in self.commands:
            self.client.tree.add_command(command, guild=self._guild())
        self._views: set[ReplyView] = set()
        self._runner: asyncio.Task[None] | None = None
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
            **options,
        )

    # -- life cycle ---------------------------------------------------------------------

    async def login(self) -> None:
        """Check the token with Discord and register the slash commands (no gateway yet)."""
        await self.client.login(self.token)

    async def start(self) -> None:
        """Log in, register slash commands, and connect to the gateway in a task."""
        await self.login()
        self._runner = asyncio.create_task(self._connect(), name="discord-gateway")

    async def stop(self) -> None:
        """Close the gateway with code 1000, so Discord ends the session (shown offline)."""
        for view in list(self._views):
            view.stop()
        self._views.clear()
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            # The gateway reader must stop first: aiohttp hands a close made while a read
            # waits to the reader, and discord.py's reader closes with 4000 (resumable),
            # so the bot would stay online, to Discord, until the session timed out.
            runner.cancel()
            await asyncio.wait({runner})
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
        manages = _may_manage(interaction.permissions) if interaction.guild_id else None
        token = _ACTOR.set(_Actor(chat.id, str(interaction.user.id), manages))
        try:
            reply = await self._handle_in_time(interaction, message)
        finally:
            _ACTOR.reset(token)
        try:
            await self._respond(interaction, reply)
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

    async def _respond(self, interaction: discord.Interaction[Any], reply: Reply | None) -> None:
        if reply is None:
            if not interaction.response.is_done():
                await interaction.response.send_message("Nothing to show.", ephemeral=True)
            return
        rendered = render_reply(reply)
        pressed = interaction.message if _is_press(interaction) else None
        if pressed is not None and reply.pages > 1 and not reply.refusal:
            # Another page of the list pressed: it replaces that page, in the same message.
            if len(rendered.messages) == 1:
                await self._replace_page(interaction, pressed, rendered)
                return
            await self._disable_buttons(interaction, pressed)
        await self._send_answer(interaction, rendered, ephemeral=reply.refusal)

    async def _replace_page(
        self,
        interaction: discord.Interaction[Any],
        pressed: discord.Message,
        rendered: RenderedReply,
    ) -> None:
        """Edit the pressed message into the new page: Discord's UPDATE_MESSAGE (type 7)."""
        self._forget_views_of(pressed.id)
        view = self._view(rendered)
        content = rendered.messages[0]
        if interaction.response.is_done():  # deferred: the original response is that message
            await interaction.edit_original_response(
                content=content, view=view, allowed_mentions=NO_MENTIONS
            )
        else:
            await interaction.response.edit_message(
                content=content, view=view, allowed_mentions=NO_MENTIONS, suppress_embeds=True
            )
        if view is not None:
            view.message = pressed

    async def _disable_buttons(
        self, interaction: discord.Interaction[Any], pressed: discord.Message
    ) -> None:
        """The pressed page's buttons, shown disabled: its list goes on in new messages."""
        self._forget_views_of(pressed.id)
        disabled = discord.ui.View.from_message(pressed, timeout=None)
        for item in disabled.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        disabled.stop()  # nothing to listen for: discord.py need not keep it
        if interaction.response.is_done():
            await interaction.edit_original_response(view=disabled)
        else:
            await interaction.response.edit_message(view=disabled)

    async def _send_answer(
        self, interaction: discord.Interaction[Any], rendered: RenderedReply, *, ephemeral: bool
    ) -> None:
        """The reply as new messages: the interaction's response, then follow-ups.

        ``ephemeral`` (flag 64): only the person who asked sees it, as Discord shows
        refusals, unless a public "thinking…" was already shown.
        """
        view = self._view(rendered)
        last = len(rendered.messages) - 1
        response = interaction.response
        for number, content in enumerate(rendered.messages):
            extra: dict[str, Any] = {"view": view} if view is not None and number == last else {}
            sent: SentMessage | None
            if number == 0 and not response.is_done():
                answer = await response.send_message(
                    content,
                    allowed_mentions=NO_MENTIONS,
                    suppress_embeds=True,
                    ephemeral=ephemeral,
                    **extra,
                )
                resource = answer.resource
                sent = resource if isinstance(resource, discord.InteractionMessage) else None
            elif number == 0 and response.type is _THINKING:
                sent = await interaction.edit_original_response(
                    content=content, allowed_mentions=NO_MENTIONS, **extra
                )
            else:
                sent = await interaction.followup.send(
                    content,
                    wait=True,
                    allowed_mentions=NO_MENTIONS,
                    suppress_embeds=True,
                    ephemeral=ephemeral,
                    **extra,
                )
            if extra and view is not None:
                view.message = sent

    def _forget_views_of(self, message_id: int) -> None:
        """Stop the views of a message being replaced, so their timeout never edits it."""
        for view in [v for v in self._views if v.message and v.message.id == message_id]:
            view.stop()
            self._views.discard(view)

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
            _may_manage(author.guild_permissions) if isinstance(author, discord.Member) else None
        )
        token = _ACTOR.set(_Actor(chat.id, str(author.id), manages))
        try:
            reply = await self.bot.handle(IncomingMessage(chat, sender_ref(author), text))
        finally:
            _ACTOR.reset(token)
        if reply is None:
            return
        try:
            await self.send_to_channel(message.channel, render_reply(reply))
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

    # -- outgoing ---------------------------------------------------------------------------

    def _view(self, rendered: RenderedReply) -> ReplyView | None:
        if not rendered.buttons:
            return None
        view = ReplyView(rendered.buttons, self.button_timeout, self._views.discard)
        self._views.add(view)
        return view

    async def send_to_channel(
        self, channel: discord.abc.Messageable, rendered: RenderedReply
    ) -> None:
        """Each message in turn; the buttons go under the last one."""
        view = self._view(rendered)
        last = len(rendered.messages) - 1
        try:
            for number, content in enumerate(rendered.messages):
                extra: dict[str, Any] = (
                    {"view": view} if view is not None and number == last else {}
                )
                sent = await channel.send(
                    content, allowed_mentions=NO_MENTIONS, suppress_embeds=True, **extra
                )
                if extra and view is not None:
                    view.message = sent
        except BaseException:
            if view is not None:
                view.stop()
                self._views.discard(view)
            raise

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
