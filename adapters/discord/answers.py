"""Answering on Discord: interaction responses, channel messages, and their buttons.

A button press that asks for another page of the list it sits under edits that message in
place (UPDATE_MESSAGE); a refusal is shown to the asker alone (an ephemeral message); any
other reply is a new message, or several under Discord's length limit, with the buttons
under the last.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.discord.lib import discord
from adapters.discord.render import BUTTON_PREFIX, RenderedButton, RenderedReply, render_reply
from bot.messages import Reply

logger = logging.getLogger(__name__)

BUTTON_TIMEOUT = 600.0  # seconds; under the 15 minutes an interaction's token may edit its reply
NO_MENTIONS = discord.AllowedMentions.none()


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
        # The adapter's client carries it (adapters.discord.bot.DiscordClient).
        adapter = getattr(interaction.client, "adapter", None)
        if adapter is not None:
            await adapter.answer_interaction(interaction, self.payload, from_button=True)


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


class Answers:
    """Sends replies and keeps the button views still listening (``views``)."""

    def __init__(self, button_timeout: float = BUTTON_TIMEOUT) -> None:
        self.button_timeout = button_timeout
        self.views: set[ReplyView] = set()

    def stop(self) -> None:
        for view in list(self.views):
            view.stop()
        self.views.clear()

    async def respond(self, interaction: discord.Interaction[Any], reply: Reply | None) -> None:
        """The core's reply to a slash command or a button press, as Discord expects it."""
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
        view = self.view_for(rendered)
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
        view = self.view_for(rendered)
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
        for view in [v for v in self.views if v.message and v.message.id == message_id]:
            view.stop()
            self.views.discard(view)

    def view_for(self, rendered: RenderedReply) -> ReplyView | None:
        if not rendered.buttons:
            return None
        view = ReplyView(rendered.buttons, self.button_timeout, self.views.discard)
        self.views.add(view)
        return view

    async def send_to_channel(
        self,
        channel: discord.abc.Messageable,
        rendered: RenderedReply,
        skip: int = 0,
        delivered: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> None:
        """Each message in turn (from number ``skip``, awaiting ``delivered(sent, total)``
        after each); the buttons go under the last one."""
        view = self.view_for(rendered)
        last = len(rendered.messages) - 1
        try:
            for number, content in enumerate(rendered.messages):
                if number < skip:
                    continue
                extra: dict[str, Any] = (
                    {"view": view} if view is not None and number == last else {}
                )
                sent = await channel.send(
                    content, allowed_mentions=NO_MENTIONS, suppress_embeds=True, **extra
                )
                if extra and view is not None:
                    view.message = sent
                if delivered is not None:
                    await delivered(number + 1, len(rendered.messages))
        except BaseException:
            if view is not None:
                view.stop()
                self.views.discard(view)
            raise
