"""/inquiries, /inquiry [NAME] and /search all WORDS."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bot.commands import Command, Context
from bot.documents import CorpusError
from bot.errors import UserInputError
from bot.inquiries.catalogue import Catalogue, LoadedInquiry
from bot.inquiries.chats import current_inquiry, with_inquiry
from bot.inquiries.model import Inquiry
from bot.messages import ArgInfo, Item, Reply

if TYPE_CHECKING:
    from bot.search import Hit

logger = logging.getLogger(__name__)

GROUP = "Inquiries"
SEARCH_ALL_PER_INQUIRY = 3
SEARCH_ALL_SHOWN = 8


def _catalogue(ctx: Context) -> Catalogue:
    catalogue = ctx.services.inquiries
    if catalogue is None:
        raise UserInputError("This bot follows one inquiry only.")
    return catalogue


def _row(catalogue: Catalogue, inquiry: Inquiry) -> dict[str, Any]:
    loaded = catalogue.loaded(inquiry.name)
    documents = len(loaded.corpus.documents) if loaded else inquiry.documents
    return {
        "name": inquiry.name,
        "title": inquiry.title,
        "summary": inquiry.summary,
        "status": inquiry.describe_status(),
        "documents": documents,
    }


async def inquiries(ctx: Context, args: str) -> Reply:
    catalogue = _catalogue(ctx)
    current = await current_inquiry(ctx.services, ctx.message.chat.key)
    rows = [_row(catalogue, i) for i in catalogue]
    example = next((i.name for i in catalogue if current is None or i.name != current.name), "")
    lines = ctx.services.views.render(
        "inquiries.j2",
        inquiries=rows,
        current=current.name if current else None,
        example=example or rows[0]["name"],
    )
    items = tuple(Item("inquiry", None, r["name"], r["title"]) for r in rows)
    return Reply(lines=lines, items=items)


async def inquiry(ctx: Context, args: str) -> Reply:
    catalogue = _catalogue(ctx)
    chat = ctx.message.chat
    following = await current_inquiry(ctx.services, chat.key) or catalogue.default
    if not args.strip():
        return _describe(ctx, catalogue, await _load(catalogue, following), switched=False)
    wanted = catalogue.find(args)
    store = ctx.services.store
    if store is None:
        raise UserInputError(
            "Switching inquiries needs a database, and this bot runs without one. "
            "Its operator can give it one with --db PATH or INQUIRY_BOT_DB."
        )
    await ctx.require_moderator("switch the inquiry this chat follows")
    loaded = await _load(catalogue, wanted)  # before switching: a failure changes nothing
    if wanted.name == following.name:
        return _describe(ctx, catalogue, loaded, switched=False)
    await store.set_chat_inquiry(
        chat, wanted.name, ctx.services.default_timezone, ctx.services.clock.now()
    )
    subs = await store.list_subscriptions(chat.key)
    elsewhere = any(s.inquiry != wanted.name for s in subs)
    return _describe(ctx, catalogue, loaded, switched=True, digest_elsewhere=elsewhere)


async def _load(catalogue: Catalogue, inquiry: Inquiry) -> LoadedInquiry:
    try:
        return await catalogue.load(inquiry)
    except CorpusError:
        logger.exception("could not load inquiry %s", inquiry.name)
        raise UserInputError(
            f"The documents of {inquiry.title} could not be read just now; the bot's "
            "operator will find why in its log. This chat stays on the inquiry it follows."
        ) from None


def _describe(
    ctx: Context,
    catalogue: Catalogue,
    loaded: LoadedInquiry,
    *,
    switched: bool,
    digest_elsewhere: bool = False,
) -> Reply:
    structure = loaded.corpus.structure
    lines = ctx.services.views.render(
        "inquiry.j2",
        inquiry=loaded.inquiry,
        status=loaded.inquiry.describe_status(),
        switched=switched,
        documents=len(loaded.corpus.documents),
        findings=len(structure.findings),
        recommendations=len(structure.recommendations),
        others=[i.name for i in catalogue if i.name != loaded.inquiry.name],
        digest_elsewhere=digest_elsewhere,
    )
    return Reply(lines=lines)


async def search_all(ctx: Context, query: str) -> Reply:
    """Every inquiry's best passages for the words, best first, each naming its inquiry."""
    from bot.briefing_commands import check_question, hit_view, no_results, search_result

    catalogue = _catalogue(ctx)
    query = check_question(query)
    scored: list[tuple[float, Context, Hit]] = []
    first = None
    for inquiry_ in catalogue:
        services = with_inquiry(ctx.services, await catalogue.load(inquiry_))
        # Off the event loop: each search may ask the model, and other chats wait on it.
        result = await asyncio.to_thread(services.index.search, query, SEARCH_ALL_PER_INQUIRY)
        first = first or result
        one = Context(ctx.message, services, ctx.command)
        scored.extend((float(hit.score), one, hit) for hit in result.hits)
    if not scored:
        assert first is not None
        return no_results(ctx, query, first)
    scored.sort(key=lambda s: -s[0])
    shown = scored[:SEARCH_ALL_SHOWN]
    views = [hit_view(one, hit, name_inquiry=True) for _, one, hit in shown]
    return Reply(
        lines=ctx.services.views.render(
            "results.j2", query=query, hits=views, corrections=(), building=None, inquiry=None
        ),
        citations=tuple(v.citation for v in views),
        results=tuple(search_result(one, hit) for _, one, hit in shown),
    )


def inquiry_commands() -> list[Command]:
    return [
        Command(
            "inquiries",
            "The inquiries I follow, and which one this chat is on",
            "/inquiries",
            inquiries,
            group=GROUP,
        ),
        Command(
            "inquiry",
            "Show or switch the inquiry this chat follows",
            "/inquiry [NAME]",
            inquiry,
            group=GROUP,
            args=(ArgInfo("name", "The inquiry's short name, from /inquiries", suggested=True),),
            details="Alone, says which inquiry this chat follows. With a name, switches to "
            "it: findings, recommendations, answers and /subscribe are then that inquiry's. "
            "In groups only moderators switch.",
            examples=("/inquiry", "/inquiry casey"),
            moderator_only=True,
        ),
    ]
