"""Who is asking on Discord: the core's chats and senders, and who moderates a chat."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass

from adapters.discord.lib import discord
from adapters.inbound import clean_optional, clean_text
from bot.messages import ChatKind, ChatRef, SenderRef

logger = logging.getLogger(__name__)

PLATFORM = "discord"


@dataclass(frozen=True)
class Actor:
    """The person behind the event being handled, with what Discord said about them."""

    chat_id: str
    user_id: str
    manages_server: bool | None  # None: the event did not say


# Set while a message or interaction is handled, so the moderator check reads the
# permissions Discord sent with that very event.
ACTOR: ContextVar[Actor | None] = ContextVar("discord_actor", default=None)


def chat_ref(
    channel: object, channel_id: int, guild_id: int | None, user: discord.abc.User
) -> ChatRef:
    """The core's chat for a Discord channel: private only for a DM with the bot.

    Anything unsure (an uncached channel of a server) is a group, where only members with
    Manage Server moderate.
    """
    if guild_id is None and getattr(channel, "type", None) == discord.ChannelType.private:
        dm = clean_text(f"DM with {user.name}")
        return ChatRef(PLATFORM, str(channel_id), ChatKind.PRIVATE, dm)
    guild = getattr(channel, "guild", None)
    parts = (getattr(guild, "name", None), getattr(channel, "name", None))
    title = " #".join(p for p in parts if isinstance(p, str) and p) or None
    return ChatRef(PLATFORM, str(channel_id), ChatKind.GROUP, clean_optional(title))


def sender_ref(user: discord.abc.User) -> SenderRef:
    return SenderRef(str(user.id), clean_text(user.display_name))


def may_manage(permissions: discord.Permissions) -> bool:
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
        actor = ACTOR.get()
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
        return may_manage(member.guild_permissions)
