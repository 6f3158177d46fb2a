"""Which inquiry a chat follows, and the services that answer from it."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.documents import CorpusError
from bot.errors import UserInputError
from bot.inquiries.catalogue import LoadedInquiry
from bot.inquiries.model import Inquiry
from bot.messages import ChatRef
from bot.services import Services

logger = logging.getLogger(__name__)


async def current_inquiry(services: Services, chat_key: str) -> Inquiry | None:
    """The inquiry the chat follows: its choice, else the deployment's default."""
    catalogue = services.inquiries
    if catalogue is None:
        return services.inquiry
    chosen = ""
    if catalogue.several and services.store is not None:
        settings = await services.store.get_chat(chat_key)
        chosen = settings.inquiry if settings else ""
    return catalogue.resolve(chosen)


# Commands that work whatever inquiry the chat is on, even one whose documents fail to load.
CATALOGUE_COMMANDS = frozenset({"inquiry", "inquiries", "help", "start"})


async def services_for_chat(services: Services, chat: ChatRef, command: str = "") -> Services:
    """``services`` answering from the chat's inquiry (loaded now if this is its first use).

    With one inquiry nothing is looked up: the services already answer from it.
    """
    catalogue = services.inquiries
    if catalogue is None or not catalogue.several:
        return services
    inquiry = await current_inquiry(services, chat.key)
    if inquiry is None or (services.inquiry is not None and inquiry.name == services.inquiry.name):
        return services
    try:
        return with_inquiry(services, await catalogue.load(inquiry))
    except CorpusError:
        logger.exception("could not load inquiry %s for chat %s", inquiry.name, chat.key)
        if command in CATALOGUE_COMMANDS:
            return services  # so the chat can still see the inquiries and switch
        raise UserInputError(
            f"The documents of {inquiry.title} could not be read just now; the bot's operator "
            "will find why in its log. /inquiries lists the others, and /inquiry NAME "
            "switches to one."
        ) from None


def with_inquiry(services: Services, loaded: LoadedInquiry) -> Services:
    # A shallow copy: the store, pager, sandbox and views stay shared.
    return replace(services, corpus=loaded.corpus, index=loaded.index, inquiry=loaded.inquiry)


def inquiry_label(services: Services) -> str | None:
    """How citations name the inquiry: only when the bot serves more than one."""
    if services.inquiries is None or not services.inquiries.several or services.inquiry is None:
        return None
    return services.inquiry.title
