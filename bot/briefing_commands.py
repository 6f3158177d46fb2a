"""The briefing commands: the review's findings, recommendations, contents, sources, search."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.commands import Command, CommandTable, Context
from bot.errors import UserInputError
from bot.inquiries.chats import inquiry_label
from bot.messages import ArgInfo, Button, Citation, Item, Reply, Result
from bot.model import DocumentMeta, Finding, Recommendation, ReviewStructure
from bot.search.citing import Place, place_of, short_section, short_source

if TYPE_CHECKING:
    from bot.search import Hit, SearchResult

MAX_QUESTION_CHARS = 1_000
RESULTS_SHOWN = 5
_WORD_NUMBERS = {
    w: i + 1
    for i, w in enumerate(
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


def no_items(structure: ReviewStructure, plural: str) -> UserInputError:
    """Why there is no list: none in the documents, or one whose numbering did not hold."""
    if plural in structure.unreadable:
        return UserInputError(
            f"The report's {plural} could not be read as a numbered list (their numbering "
            f"does not hold together), so they are not listed. /chapters shows the report's "
            f"parts, or ask a question in your own words."
        )
    return UserInputError(
        f"These documents have no numbered {plural}. /chapters shows the report's parts, "
        f"or ask a question in your own words."
    )


def parse_number(
    args: str,
    noun: str,
    plural: str,
    count: int,
    example: int,
    structure: ReviewStructure | None = None,
) -> int:
    """The item number in a command's arguments, or a specific explanation of what is wrong."""
    usage = f"/{noun} N"
    if count == 0:
        raise no_items(structure or ReviewStructure(), plural)
    raw = args.strip()
    if not raw:
        raise UserInputError(
            f"Which {noun}? Send {usage} with N from 1 to {count}, for example /{noun} {example}. "
            f"/{plural} lists them all."
        )
    token = re.sub(r"^(?:no\.?|number|#)\s*", "", raw.split()[0].lower()).rstrip(".,;:!?")
    number = int(token) if token.isdigit() else _WORD_NUMBERS.get(token)
    if number is None:
        shown = raw if len(raw) <= 30 else raw[:30] + "…"
        raise UserInputError(
            f"“{shown}” is not a {noun} number. Send {usage} with a number from 1 to {count}, "
            f"for example /{noun} {example}."
        )
    if not 1 <= number <= count:
        raise UserInputError(
            f"There are {count} {plural}: 1–{count}. Send {usage} with a number in that range, "
            f"or /{plural} to list them."
        )
    return number


def report_citation(ctx: Context, document_id: str, section: str | None) -> Citation:
    doc = ctx.services.corpus.document(document_id)
    title = doc.meta.title if doc else document_id
    source = doc.meta.source if doc else document_id
    url = doc.meta.url if doc else None
    return Citation(document_id, source, title, section, url, inquiry_label(ctx.services))


def findings_part(ctx: Context, document_id: str) -> str | None:
    """The part of the report the findings are printed in ("Summary and conclusions"), as
    its sections name it; None when the report's parts are not known."""
    doc = ctx.services.corpus.document(document_id)
    if doc is None:
        return None
    first = next((s for s in doc.sections if s.title.startswith("Finding 1:")), None)
    if first is None:
        return None
    around = [
        s
        for s in doc.sections
        if s.start <= first.start and first.end <= s.end and not s.title.startswith("Finding ")
    ]
    return min(around, key=lambda s: s.end - s.start).title if around else None


def _report(ctx: Context) -> DocumentMeta | None:
    """The inquiry's report among the documents, if one is marked as such."""
    report = next((d for d in ctx.services.corpus.documents if d.meta.kind == "report"), None)
    return report.meta if report else None


async def start(ctx: Context, args: str) -> Reply:
    structure = ctx.services.corpus.structure
    lines = ctx.services.views.render(
        "start.j2",
        report=_report(ctx),
        findings=len(structure.findings),
        recommendations=len(structure.recommendations),
        documents=len(ctx.services.corpus.documents),
        inquiry=ctx.services.inquiry,
        inquiries=len(ctx.services.inquiries) if ctx.services.inquiries else 1,
    )
    return Reply(lines=lines)


def help_command(table_ref: list[CommandTable]) -> Command:
    async def handler(ctx: Context, args: str) -> Reply:
        table = table_ref[0]
        name = args.strip().lstrip("/").split("@")[0].lower()
        if not name:
            groups: dict[str, list[Command]] = {}
            for listed in table.visible():
                groups.setdefault(listed.group, []).append(listed)
            return Reply(lines=ctx.services.views.render("help.j2", groups=groups))
        command = table.get(name)
        if command is None or command.hidden:
            close = table.closest(name)
            hint = f" Did you mean {' or '.join('/' + c for c in close)}?" if close else ""
            raise UserInputError(f"There is no command /{name}.{hint} Send /help for the list.")
        return Reply(lines=ctx.services.views.render("help_command.j2", command=command))

    return Command(
        "help",
        "List the commands, or explain one",
        "/help [command]",
        handler,
        args=(ArgInfo("command", "A command to explain, e.g. recommendation"),),
        examples=("/help", "/help recommendation"),
    )


async def findings(ctx: Context, args: str) -> Reply:
    items = ctx.services.corpus.structure.findings
    if not items:
        raise no_items(ctx.services.corpus.structure, "findings")
    part = findings_part(ctx, items[0].document_id)
    citation = report_citation(ctx, items[0].document_id, part)
    return Reply(
        lines=ctx.services.views.render("findings.j2", findings=items, citation=citation),
        citations=(citation,),
        items=tuple(_finding_item(f) for f in items),
    )


async def finding(ctx: Context, args: str) -> Reply:
    items = ctx.services.corpus.structure.findings
    number = parse_number(
        args, "finding", "findings", len(items), 1, ctx.services.corpus.structure
    )
    item = items[number - 1]
    citation = report_citation(ctx, item.document_id, findings_part(ctx, item.document_id))
    return Reply(
        lines=ctx.services.views.render(
            "finding.j2", finding=item, total=len(items), citation=citation
        ),
        citations=(citation,),
        buttons=_neighbours("finding", number, len(items)),
        items=(_finding_item(item),),
    )


async def recommendations(ctx: Context, args: str) -> Reply:
    items = ctx.services.corpus.structure.recommendations
    if not items:
        raise no_items(ctx.services.corpus.structure, "recommendations")
    citation = report_citation(ctx, items[0].document_id, "Recommendations")
    themes: dict[str, list[Recommendation]] = {}
    for rec in items:
        themes.setdefault(rec.theme, []).append(rec)
    return Reply(
        lines=ctx.services.views.render("recommendations.j2", themes=themes, citation=citation),
        citations=(citation,),
        items=tuple(_recommendation_item(r) for r in items),
    )


async def recommendation(ctx: Context, args: str) -> Reply:
    items = ctx.services.corpus.structure.recommendations
    number = parse_number(
        args, "recommendation", "recommendations", len(items), 10, ctx.services.corpus.structure
    )
    item = items[number - 1]
    citation = report_citation(ctx, item.document_id, f"Recommendations: {item.theme}")
    return Reply(
        lines=ctx.services.views.render(
            "recommendation.j2", rec=item, total=len(items), citation=citation
        ),
        citations=(citation,),
        buttons=_neighbours("recommendation", number, len(items)),
        items=(_recommendation_item(item),),
    )


async def chapters(ctx: Context, args: str) -> Reply:
    entries = ctx.services.corpus.structure.chapters
    if not entries:
        raise UserInputError("These documents have no table of contents.")
    return Reply(
        lines=ctx.services.views.render("chapters.j2", chapters=entries, report=_report(ctx)),
        items=tuple(
            Item("chapter", None, e.title, "\n".join(c.title for c in e.children)) for e in entries
        ),
    )


async def sources(ctx: Context, args: str) -> Reply:
    docs = [d.meta for d in ctx.services.corpus.documents]
    return Reply(
        lines=ctx.services.views.render("sources.j2", documents=docs),
        citations=tuple(Citation(m.id, m.source, m.title, None, m.url) for m in docs),
    )


async def search(ctx: Context, args: str) -> Reply:
    if not args.strip():
        raise UserInputError("What should I search for? For example: /search vetting")
    first, _, rest = args.strip().partition(" ")
    catalogue = ctx.services.inquiries
    if first.lower() == "all" and rest.strip():
        if catalogue is not None and catalogue.several:
            from bot.inquiries.commands import search_all

            return await search_all(ctx, rest)
        args = rest  # one inquiry: "every inquiry" is this one
    return await asyncio.to_thread(answer, ctx, args)


async def question(ctx: Context, args: str) -> Reply:
    # Off the event loop: embedding a long question takes milliseconds that would
    # otherwise hold up every other chat.
    return await asyncio.to_thread(answer, ctx, args)


async def more(ctx: Context, args: str) -> Reply:
    return ctx.services.pager.more(ctx.message.chat.key)


async def page(ctx: Context, args: str) -> Reply:
    parts = args.split()
    if len(parts) != 2 or not parts[1].isdigit():
        raise UserInputError("That page button is not one I made. Send the command again.")
    return ctx.services.pager.page(ctx.message.chat.key, parts[0], int(parts[1]))


def check_question(query: str) -> str:
    query = query.strip()
    if len(query) > MAX_QUESTION_CHARS:
        raise UserInputError(
            f"That question is {len(query):,} characters long. Please ask in under "
            f"{MAX_QUESTION_CHARS:,} characters: a sentence or a few key words work best."
        )
    return query


def answer(ctx: Context, query: str) -> Reply:
    """Passages for a question, each cited briefly; never an empty reply. When the
    documents do not answer it the reply says so first, and the nearest passages follow
    under a heading that says they are not an answer."""
    query = check_question(query)
    result = ctx.services.index.search(query, k=RESULTS_SHOWN)
    if not result.hits:
        return no_results(ctx, query, result)
    shown = [hit_view(ctx, hit) for hit in result.hits]
    template = "results.j2" if result.answered else "not_answered.j2"
    return Reply(
        lines=ctx.services.views.render(
            template,
            query=_clipped(query),
            hits=shown,
            corrections=result.corrections,
            missing=result.verdict.missing,
            building=_building(result),
            inquiry=inquiry_label(ctx.services),  # named once, not on every hit
        ),
        citations=tuple(h.citation for h in shown),
        buttons=_place_buttons(ctx, shown) if result.answered else (),
        results=tuple(search_result(ctx, hit) for hit in result.hits),
        answered=result.answered,
    )


def _clipped(query: str) -> str:
    return query if len(query) <= 60 else query[:60] + "…"


def _building(result: SearchResult) -> int | None:
    """Percent done while the semantic index is still being built, else None."""
    progress = result.semantic
    if progress is None or progress.ready:
        return None
    return int(100 * progress.share)


def no_results(ctx: Context, query: str, result: SearchResult) -> Reply:
    return Reply(
        lines=ctx.services.views.render(
            "no_results.j2", query=_clipped(query), suggestions=result.suggestions
        ),
        buttons=tuple((Button(f"Search “{s}”", f"/search {s}"),) for s in result.suggestions[:3]),
        answered=False,
    )


@dataclass(frozen=True)
class HitView:
    """What the results template shows of one hit: excerpt, and a short citation."""

    excerpt: tuple[tuple[str, bool], ...]
    citation: Citation
    source: str  # the outlet, short ("Casey Review", "ITV News")
    section: str | None  # "Finding 2", or a short section title
    place: Place | None  # the finding or recommendation it sits in, if any
    also: tuple[str, ...]
    inquiry: str | None = None  # its inquiry's short name, where hits mix inquiries


def hit_view(ctx: Context, hit: Hit, *, name_inquiry: bool = False) -> HitView:
    passage = hit.passage
    citation = report_citation(ctx, passage.document_id, passage.section)
    doc = ctx.services.corpus.document(passage.document_id)
    source = short_source(doc.meta) if doc else passage.document_id
    also = tuple(_short_name(ctx, d) for d in hit.also_in)
    place = _known_place(ctx, place_of(passage.section))
    inquiry = ctx.services.inquiry.name if name_inquiry and ctx.services.inquiry else None
    section = short_section(passage.section)
    excerpt = _without_number(hit.excerpt, place.number) if place else hit.excerpt
    return HitView(excerpt, citation, source, section, place, also, inquiry)


def _without_number(
    excerpt: tuple[tuple[str, bool], ...], number: int
) -> tuple[tuple[str, bool], ...]:
    """The excerpt without the item's own number in front ("3. Vetting standards…" under
    "Recommendation 3"): in a numbered list of hits, "1. 3. Vetting…" reads as a muddle."""
    if not excerpt:
        return excerpt
    text, matched = excerpt[0]
    found = re.match(rf"\s*\(?{number}[.)]\s+", text)
    if found is None:
        return excerpt
    rest = text[found.end() :]
    return ((rest, matched), *excerpt[1:]) if rest else excerpt[1:]


def _known_place(ctx: Context, place: Place | None) -> Place | None:
    """The place, if this inquiry's structure has it (so its button opens something)."""
    if place is None:
        return None
    structure = ctx.services.corpus.structure
    numbered = structure.findings if place.kind == "finding" else structure.recommendations
    return place if any(item.number == place.number for item in numbered) else None


def _place_buttons(ctx: Context, shown: Sequence[HitView]) -> tuple[tuple[Button, ...], ...]:
    """One button per finding or recommendation the hits sit in, in the order shown."""
    places = list(dict.fromkeys(h.place for h in shown if h.place is not None))
    row = tuple(Button(place.label, place.command) for place in places)
    return (row,) if row else ()


def _short_name(ctx: Context, document_id: str) -> str:
    doc = ctx.services.corpus.document(document_id)
    return short_source(doc.meta) if doc else document_id


def search_result(ctx: Context, hit: Hit) -> Result:
    return Result(
        document=hit.passage.document_id,
        source=_source_name(ctx, hit.passage.document_id),
        text=hit.passage.text,
        score=round(float(hit.score), 4),
        also_in=tuple(hit.also_in),
    )


def _source_name(ctx: Context, document_id: str) -> str:
    doc = ctx.services.corpus.document(document_id)
    return doc.meta.source if doc else document_id


def _neighbours(noun: str, number: int, count: int) -> tuple[tuple[Button, ...], ...]:
    row: list[Button] = []
    if number > 1:
        row.append(Button(f"◀ {noun.capitalize()} {number - 1}", f"/{noun} {number - 1}"))
    if number < count:
        row.append(Button(f"{noun.capitalize()} {number + 1} ▶", f"/{noun} {number + 1}"))
    return (tuple(row),) if row else ()


def _finding_item(f: Finding) -> Item:
    return Item("finding", f.number, f.title, f.text)


def _recommendation_item(r: Recommendation) -> Item:
    return Item("recommendation", r.number, r.title, r.text)


def briefing_commands(table_ref: list[CommandTable]) -> list[Command]:
    """The briefing commands; ``table_ref`` lets /help see the finished table."""
    number = ArgInfo(
        "number", "The number", kind="int", required=True, min_value=1, suggested=True
    )
    return [
        Command("start", "What this bot does and how to begin", "/start", start),
        help_command(table_ref),
        Command(
            "findings", "The review's numbered findings, by title", "/findings", findings,
            examples=("/findings",),
        ),
        Command(
            "finding", "One finding in full", "/finding N", finding, args=(number,),
            examples=("/finding 5",),
        ),
        Command(
            "recommendations", "The recommendations, grouped by theme", "/recommendations",
            recommendations, aliases=("recs",),
        ),
        Command(
            "recommendation", "One recommendation in full", "/recommendation N", recommendation,
            aliases=("rec",), args=(number,), examples=("/recommendation 10", "/rec 3"),
        ),
        Command("chapters", "The report's table of contents", "/chapters", chapters),
        Command("sources", "The documents I answer from", "/sources", sources),
        Command(
            "search", "Search the documents for words", "/search WORDS", search,
            args=(ArgInfo("words", "What to look for", required=True),),
            examples=("/search vetting", "/search stop and search", "/search all vetting"),
            details="Any message that is not a command is searched the same way. "
            "/search all WORDS searches every inquiry the bot follows.",
        ),
        Command("more", "The next page of a long answer", "/more", more, hidden=True),
        Command("page", "A page of a long answer", "/page TOKEN N", page, hidden=True),
        Command("question", "Ask in your own words", "(any text)", question, hidden=True),
    ]


def build_table(*extra: Sequence[Command]) -> CommandTable:
    """The one command table: briefings first, then the groups other modules add."""
    ref: list[CommandTable] = []
    commands = briefing_commands(ref)
    for group in extra:
        commands.extend(group)
    table = CommandTable(tuple(commands))
    ref.append(table)
    return table
