"""The router: one message in, one platform-neutral reply out."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, replace

from bot.commands import CommandTable, Context
from bot.errors import Refusal, UserInputError
from bot.inquiries.chats import services_for_chat
from bot.inquiries.suggest import suggestions
from bot.messages import ChatRef, IncomingMessage, Reply, Suggestion, text_reply
from bot.services import Services

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 10_000
_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?:\s+(.*))?$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f]")

APOLOGY = (
    "Sorry, something went wrong on my side while answering that. "
    "It has been logged; please try again, or send /help."
)


@dataclass(frozen=True)
class Parsed:
    command: str | None  # None: the text is a question
    args: str
    addressed_elsewhere: bool = False  # "/cmd@OtherBot" in a group


def clean_input(text: str) -> str:
    """NFC-normalised text without control or invisible formatting characters."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("\t", " ")
    return _CONTROL.sub("", text).strip()


def parse(text: str, bot_name: str) -> Parsed:
    match = _COMMAND.match(text)
    if not match:
        return Parsed(None, text)
    name, target, args = match.group(1), match.group(2), (match.group(3) or "").strip()
    elsewhere = target is not None and target.lower() != bot_name.lower()
    return Parsed(name.lower(), args, elsewhere)


class BriefingBot:
    """Routes messages to the command table; questions go to the ``question`` handler."""

    def __init__(self, services: Services, table: CommandTable) -> None:
        self.services = services
        self.table = table

    async def handle(self, message: IncomingMessage) -> Reply | None:
        """The reply to a message, or None when the message is not for this bot."""
        try:
            return await self._handle(message)
        except UserInputError as err:
            return replace(text_reply(str(err)), refusal=isinstance(err, Refusal))
        except Exception:
            logger.exception(
                "failed to answer a message in chat %s (%d characters)",
                message.chat.key,
                len(message.text),
            )
            return text_reply(APOLOGY)

    async def _handle(self, message: IncomingMessage) -> Reply | None:
        text = clean_input(message.text)
        if not text:
            return text_reply(
                "That message was empty. Ask a question in your own words, "
                "or send /help to see the commands."
            )
        if len(text) > MAX_MESSAGE_CHARS:
            raise UserInputError(
                f"That message is {len(text):,} characters long; I read messages of up to "
                f"{MAX_MESSAGE_CHARS:,}. Please ask a shorter question."
            )
        parsed = parse(text, self.services.bot_name)
        if parsed.addressed_elsewhere:
            return None
        name = parsed.command or "question"
        command = self.table.get(name)
        if command is None:
            return self._unknown(name)
        cleaned = IncomingMessage(message.chat, message.sender, text, message.from_button)
        services = await services_for_chat(self.services, message.chat, name)
        ctx = Context(cleaned, services, name)
        reply = await command.handler(ctx, parsed.args)
        return self.services.pager.paginate(message.chat.key, reply)

    async def suggest(
        self, chat: ChatRef, command: str, arg: str, typed: str
    ) -> tuple[Suggestion, ...]:
        """Values for an argument being typed in this chat (``ArgInfo.suggested``): the
        numbers of its inquiry's findings or recommendations, the names of the inquiries."""
        services = await services_for_chat(self.services, chat)
        return suggestions(services, command, arg, typed)

    def _unknown(self, name: str) -> Reply:
        close = self.table.closest(name)
        hint = f" Did you mean {' or '.join('/' + c for c in close)}?" if close else ""
        return text_reply(f"I don't know the command /{name}.{hint} Send /help to see them all.")
