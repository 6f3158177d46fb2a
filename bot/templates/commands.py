"""Moderators' templates: /template add, edit, show, preview, list, history, rollback, use,
remove and help, and /briefing NAME to render one for anyone in the chat.

Templates are stored per chat with every version kept (author and time). A template is
checked when it is saved, by rendering it in the sandbox on this chat's data (made fuller,
see :meth:`TemplateContexts.sample`): a syntax error, a template over the size cap, or one
that fails or overruns on that data is refused, saying why.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.commands import Command, Context
from bot.errors import UserInputError
from bot.inquiries.templates import inquiry_variables
from bot.messages import ArgInfo, Line, Reply, Span, text_reply
from bot.services import Services
from bot.templates.arguments import (
    MAX_NAME,
    MAX_VERSION,
    check_name,
    clipped,
    split_first,
    template_text,
    version_number,
)
from bot.templates.context import (
    MAX_SEARCH_K,
    MAX_SEARCH_WORDS,
    DocumentLike,
    TemplateContexts,
    chat_data,
    search_calls,
    zone,
)
from bot.templates.limits import (
    MAX_OUTPUT_CHARS,
    MAX_SOURCE_CHARS,
    MEMORY_LIMIT,
    RENDER_TIMEOUT,
    TemplateRejected,
    precheck,
)
from bot.templates.sandbox import TemplateSandbox

if TYPE_CHECKING:
    from bot.store import Store, TemplateVersion

MAX_TEMPLATES = 20  # per chat
NEW_DOCUMENTS_WINDOW = timedelta(days=7)  # "new" for a chat without a digest yet
DEFAULT_NAME = "default"  # /template use default: back to the built-in digest

# -- what every subcommand needs --------------------------------------------------------------


class _Contexts:
    """One :class:`TemplateContexts` per inquiry, reused while its corpus and index stay the
    same (documents ingested at run time bring a new corpus and index, and so new contexts)."""

    def __init__(self) -> None:
        self._built: dict[str, TemplateContexts] = {}

    def get(self, services: Services) -> TemplateContexts:
        key = services.inquiry.name if services.inquiry else ""
        built = self._built.get(key)
        if (
            built is None
            or built.corpus is not services.corpus
            or built.index is not services.index
        ):
            about = inquiry_variables(services)
            built = TemplateContexts(services.corpus, services.index, about)
            self._built[key] = built
        return built


@dataclass(frozen=True)
class _Env:
    ctx: Context
    store: Store
    sandbox: TemplateSandbox
    contexts: TemplateContexts

    @property
    def chat_key(self) -> str:
        return self.ctx.message.chat.key


def _env(ctx: Context, contexts: _Contexts) -> _Env:
    store, sandbox = ctx.services.store, ctx.services.sandbox
    if store is None:
        raise UserInputError(
            "Templates need the bot's database, and this bot is running without one."
        )
    if sandbox is None:
        raise UserInputError("Templates are switched off on this bot (no template sandbox).")
    return _Env(ctx, store, sandbox, contexts.get(ctx.services))


def _author(ctx: Context) -> str:
    sender = ctx.message.sender
    return sender.name or f"user {sender.id}"


async def _timezone(env: _Env) -> str:
    settings = await env.store.get_chat(env.chat_key)
    return settings.timezone if settings else env.ctx.services.default_timezone


async def _new_documents(env: _Env, now: datetime) -> list[DocumentLike]:
    """Documents added since this chat's last digest (or in the last week)."""
    sub = await env.store.get_subscription(env.chat_key)
    since = sub.last_digest_at if sub and sub.last_digest_at else now - NEW_DOCUMENTS_WINDOW
    return list(await env.store.documents_added_between(since, now))


async def chat_context(env: _Env) -> dict[str, Any]:
    """This chat's own part of a template's context, from the store."""
    now = env.ctx.services.clock.now()
    alerts = [a.words for a in await env.store.list_alerts(env.chat_key)]
    return chat_data(
        alerts=alerts,
        now=now,
        timezone=await _timezone(env),
        new_documents=await _new_documents(env, now),
    )


async def _render(env: _Env, source: str, chat: Mapping[str, Any]) -> tuple[Line, ...]:
    return await env.sandbox.render_lines(
        source,
        chat,
        shared=env.contexts.shared,
        common=await env.contexts.common_async(source),
        chat=env.chat_key,
    )


async def _checked(env: _Env, name: str, source: str, verb: str = "saved") -> None:
    """Refuse, saying why, a template that would not render on sample data."""
    if not source.strip():
        raise UserInputError(
            f"Template “{name}” has no text. Put it after the name, on the same line or on "
            f"the next lines: /template add {name} Hello {{{{ now.weekday }}}}"
        )
    try:
        # Size, nesting, syntax and the searches' count and length first: nothing is
        # searched, nor sent to a worker, for a template that is refused anyway.
        precheck(source)
        search_calls(source)
        sample = env.contexts.sample(await chat_context(env))
        await _render(env, source, sample)
    except TemplateRejected as err:
        raise UserInputError(f"Template “{name}” was not {verb}: {err}") from None


async def _existing(env: _Env, name: str, version: int | None = None) -> TemplateVersion:
    # A number past any version saved is not looked up: SQLite's integers stop at 2**63.
    if version is None or version <= MAX_VERSION:
        found = await env.store.get_template(env.chat_key, name, version)
        if found is not None:
            return found
    if version is not None and await env.store.get_template(env.chat_key, name) is not None:
        raise UserInputError(
            f"Template “{name}” has no version {clipped(str(version))}. "
            f"/template history {name} lists them."
        )
    names = [t.name for t in await env.store.list_templates(env.chat_key)]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean “{close[0]}”?" if close else ""
    raise UserInputError(
        f"This chat has no template “{name}”.{hint} /template list shows this chat's templates."
    )


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(zone(timezone))
    return f"{local.day} {local.strftime('%b %Y %H:%M')}"


def _rendered(lines: tuple[Line, ...], name: str) -> tuple[Line, ...]:
    if not lines:
        raise UserInputError(f"Template “{name}” rendered no text this time.")
    return lines


# -- the subcommands ----------------------------------------------------------------------------


async def add(env: _Env, rest: str) -> Reply:
    await env.ctx.require_moderator("add templates")
    raw_name, raw_text = split_first(rest)
    name = check_name(raw_name)
    if name == DEFAULT_NAME:
        raise UserInputError("“default” names the built-in digest; choose another name.")
    if await env.store.get_template(env.chat_key, name) is not None:
        raise UserInputError(
            f"This chat already has a template “{name}”. To change it: /template edit {name} TEXT"
        )
    if len(await env.store.list_templates(env.chat_key)) >= MAX_TEMPLATES:
        raise UserInputError(
            f"This chat has {MAX_TEMPLATES} templates, the most it can keep. "
            "Remove one first (/template remove NAME)."
        )
    source = template_text(raw_text)
    await _checked(env, name, source)
    version = await env.store.save_template(
        env.chat_key, name, source, _author(env.ctx), env.ctx.services.clock.now()
    )
    return text_reply(
        f"Saved template “{name}” (version {version}). "
        f"Try it: /template preview {name}. Use it for the digest: /template use {name}"
    )


async def edit(env: _Env, rest: str) -> Reply:
    await env.ctx.require_moderator("edit templates")
    raw_name, raw_text = split_first(rest)
    name = check_name(raw_name)
    current = await _existing(env, name)
    source = template_text(raw_text)
    if source == current.source:
        return text_reply(f"That is already the text of “{name}” (version {current.version}).")
    await _checked(env, name, source)
    version = await env.store.save_template(
        env.chat_key, name, source, _author(env.ctx), env.ctx.services.clock.now()
    )
    return text_reply(
        f"Saved “{name}” as version {version}. /template history {name} lists every version; "
        f"/template rollback {name} {current.version} goes back."
    )


async def show(env: _Env, rest: str) -> Reply:
    raw_name, raw_version = split_first(rest)
    name = check_name(raw_name)
    version = version_number(raw_version, name, required=False)
    found = await _existing(env, name, version)
    timezone = await _timezone(env)
    header: Line = (
        Span(f"Template {found.name}, version {found.version}", bold=True),
        Span(f" (by {found.author}, {_when(found.created_at, timezone)})"),
    )
    body = tuple((Span(line, code=True),) if line else () for line in found.source.split("\n"))
    return Reply(lines=(header, (), *body))


async def preview(env: _Env, rest: str) -> Reply:
    name = check_name(split_first(rest)[0])
    found = await _existing(env, name)
    lines = await _render_for_chat(env, found)
    header: Line = (Span(f"Preview of “{name}”, version {found.version}:", italic=True),)
    return Reply(lines=(header, (), *_rendered(lines, name)))


async def list_templates(env: _Env, rest: str) -> Reply:
    templates = await env.store.list_templates(env.chat_key)
    if not templates:
        return text_reply(
            "This chat has no templates yet. A moderator can add one: /template add NAME TEXT "
            "(/template help explains how)."
        )
    digest = await env.store.get_digest_template(env.chat_key)
    timezone = await _timezone(env)
    lines: list[Line] = [(Span("This chat's templates", bold=True),)]
    for t in templates:
        used = " · used for the digest" if t.name == digest else ""
        lines.append(
            (
                Span("• "),
                Span(t.name, code=True),
                Span(
                    f": version {t.version}, by {t.author}, "
                    f"{_when(t.created_at, timezone)}{used}"
                ),
            )
        )
    lines += [(), (Span("Show one with /briefing NAME; /template help explains templates."),)]
    return Reply(lines=tuple(lines))


async def history(env: _Env, rest: str) -> Reply:
    name = check_name(split_first(rest)[0])
    versions = await env.store.template_history(env.chat_key, name)
    if not versions:
        await _existing(env, name)  # explains, with a suggestion
    timezone = await _timezone(env)
    lines: list[Line] = [(Span(f"History of “{name}”", bold=True),)]
    for v in versions:
        current = " (current)" if v is versions[-1] else ""
        lines.append(
            (
                Span(
                    f"• version {v.version}: {_when(v.created_at, timezone)} by {v.author}, "
                    f"{len(v.source):,} characters{current}"
                ),
            )
        )
    lines += [(), (Span(f"/template show {name} VERSION shows one; rollback restores it."),)]
    return Reply(lines=tuple(lines))


async def rollback(env: _Env, rest: str) -> Reply:
    await env.ctx.require_moderator("roll templates back")
    raw_name, raw_version = split_first(rest)
    name = check_name(raw_name)
    version = version_number(raw_version, name, required=True)
    old = await _existing(env, name, version)
    current = await _existing(env, name)
    if old.version == current.version:
        return text_reply(f"Version {version} is already the current text of “{name}”.")
    await _checked(env, name, old.source, verb="rolled back")
    saved = await env.store.save_template(
        env.chat_key, name, old.source, _author(env.ctx), env.ctx.services.clock.now()
    )
    return text_reply(f"“{name}” has version {version}'s text again (saved as version {saved}).")


async def use(env: _Env, rest: str) -> Reply:
    await env.ctx.require_moderator("choose the digest's template")
    name = check_name(split_first(rest)[0])
    if name == DEFAULT_NAME:
        await env.store.set_digest_template(env.chat_key, None)
        return text_reply("This chat's digest uses the built-in format again.")
    found = await _existing(env, name)
    await env.store.set_digest_template(env.chat_key, found.name)
    return text_reply(
        f"This chat's digest now uses “{name}”. /template use default goes back to the "
        "built-in format."
    )


async def remove(env: _Env, rest: str) -> Reply:
    await env.ctx.require_moderator("remove templates")
    name = check_name(split_first(rest)[0])
    await _existing(env, name)
    was_digest = await env.store.get_digest_template(env.chat_key) == name
    await env.store.remove_template(env.chat_key, name)
    if was_digest:
        await env.store.set_digest_template(env.chat_key, None)
        return text_reply(
            f"Removed “{name}” and its history. The digest uses the built-in format again."
        )
    return text_reply(f"Removed “{name}” and its history.")


async def _render_for_chat(env: _Env, found: TemplateVersion) -> tuple[Line, ...]:
    try:
        return await _render(env, found.source, await chat_context(env))
    except TemplateRejected as err:
        raise UserInputError(f"Template “{found.name}” could not be rendered: {err}") from None


def help_reply(ctx: Context) -> Reply:
    views = ctx.services.views
    lines = views.render(
        "template_help.j2",
        example=views.source("template_example.j2"),
        max_name=MAX_NAME,
        max_k=MAX_SEARCH_K,
        max_search_words=MAX_SEARCH_WORDS,
        max_source=f"{MAX_SOURCE_CHARS:,}",
        max_output=f"{MAX_OUTPUT_CHARS:,}",
        timeout=f"{RENDER_TIMEOUT:g}",
        memory_mb=MEMORY_LIMIT // (1024 * 1024),
    )
    return Reply(lines=lines)


Subcommand = Callable[[_Env, str], Awaitable[Reply]]
SUBCOMMANDS: dict[str, Subcommand] = {
    "add": add,
    "edit": edit,
    "show": show,
    "preview": preview,
    "list": list_templates,
    "history": history,
    "rollback": rollback,
    "use": use,
    "remove": remove,
}
_ALIASES = {"new": "add", "delete": "remove", "rm": "remove", "ls": "list", "view": "show"}
ACTIONS = (*SUBCOMMANDS, "help")


# -- the commands -------------------------------------------------------------------------------


def template_commands() -> list[Command]:
    """/template (with its subcommands) and /briefing."""
    contexts = _Contexts()

    async def template(ctx: Context, args: str) -> Reply:
        word, rest = split_first(args)
        action = _ALIASES.get(word.lower(), word.lower())
        if action == "help":
            return help_reply(ctx)
        if not action:
            return text_reply(
                "Templates shape this chat's own briefings. Send /template help for the "
                "variables and an example, or /template list, /template add NAME TEXT, "
                "/template preview NAME."
            )
        sub = SUBCOMMANDS.get(action)
        if sub is None:
            close = difflib.get_close_matches(action, ACTIONS, n=1)
            hint = f" Did you mean /template {close[0]}?" if close else ""
            raise UserInputError(
                f"/template {word[:20]} is not something I can do.{hint} "
                f"I know: {', '.join(ACTIONS)}."
            )
        return await sub(_env(ctx, contexts), rest)

    async def briefing(ctx: Context, args: str) -> Reply:
        env = _env(ctx, contexts)
        raw = split_first(args)[0]
        if not raw:
            templates = await env.store.list_templates(env.chat_key)
            if not templates:
                raise UserInputError(
                    "This chat has no templates yet; a moderator can add one "
                    "(/template help explains how)."
                )
            names = ", ".join(t.name for t in templates)
            raise UserInputError(f"Which briefing? This chat has: {names}. Send /briefing NAME")
        name = check_name(raw)
        found = await _existing(env, name)
        return Reply(lines=_rendered(await _render_for_chat(env, found), name))

    return [
        Command(
            "template",
            "Write this chat's own briefings (templates)",
            "/template ACTION [NAME] [TEXT]",
            template,
            group="Templates",
            args=(
                ArgInfo("action", "What to do", required=True, choices=ACTIONS),
                ArgInfo("name", "The template's name (letters, digits, - and _)"),
                ArgInfo("text", "The template's text, or a version number"),
            ),
            details=(
                "add, edit, rollback, use and remove are for moderators; show, preview, list, "
                "history and help are for everyone. /template help lists the variables and "
                "filters a template can use, with an example."
            ),
            examples=(
                "/template help",
                '/template add welcome Hello! The review made {{ recommendations|length }} '
                "recommendations.",
                "/template preview welcome",
                "/template use welcome",
            ),
        ),
        Command(
            "briefing",
            "Show one of this chat's templates, rendered now",
            "/briefing NAME",
            briefing,
            group="Templates",
            args=(ArgInfo("name", "The template's name", required=True),),
            examples=("/briefing welcome",),
        ),
    ]


def current_contexts(services: Services) -> Callable[[], TemplateContexts]:
    """Template contexts for the services' corpus and index as they are at each call."""
    cache = _Contexts()
    return lambda: cache.get(services)
