"""Digest commands: /subscribe, /timezone, /subscriptions, /pause, /resume, /unsubscribe,
/digest, /alert and /forget.

Anything that changes a chat's settings asks the platform whether the sender may (group
admins; the user in a private chat or the console). Input is checked before anything is
stored, and a bad value gets an answer saying what to type instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.commands import Command, Context
from bot.digests.digest import RenderCustom
from bot.digests.schedule import (
    canonical_timezone,
    describe_local,
    next_occurrence,
    parse_schedule,
)
from bot.errors import UserInputError
from bot.inquiries.digests import InquiryRenderers, digest_builder
from bot.inquiries.model import normalise_name
from bot.messages import ArgInfo, Button, Reply, text_reply
from bot.search.text import content_words
from bot.store import Alert, Store, Subscription

MAX_ALERTS = 20  # per chat
MAX_ALERT_WORDS = 10
MAX_ALERT_CHARS = 200
GROUP = "Digests and alerts"
CONFIRM = "confirm"


def _store(ctx: Context) -> Store:
    store = ctx.services.store
    if store is None:
        raise UserInputError(
            "Subscriptions need a database, and this bot runs without one. "
            "Its operator can give it one with --db PATH or INQUIRY_BOT_DB."
        )
    return store


def _now(ctx: Context) -> datetime:
    return ctx.services.clock.now()


async def _zone(ctx: Context, store: Store) -> str:
    settings = await store.get_chat(ctx.message.chat.key)
    return settings.timezone if settings else ctx.services.default_timezone


def _inquiry(ctx: Context) -> str:
    """The chat's inquiry, whose digest /subscribe, /pause, /resume and /digest are about."""
    return ctx.services.inquiry.name if ctx.services.inquiry else ""


def _named(ctx: Context, args: str, subscribed: Sequence[str] = ()) -> str:
    """The inquiry a command names (/unsubscribe casey), else the chat's own.

    ``subscribed``: the chat's digests' inquiries, whose exact names are accepted even for
    one the bot no longer serves, so its digest can still be paused or stopped.
    """
    catalogue = ctx.services.inquiries
    if args.strip() and catalogue is not None:
        typed = normalise_name(args)
        if typed in subscribed and _gone(ctx, typed):
            return typed
        return catalogue.find(args).name
    return _inquiry(ctx)


async def _subscribed(store: Store, chat_key: str) -> list[str]:
    return [sub.inquiry for sub in await store.list_subscriptions(chat_key)]


def _gone(ctx: Context, name: str) -> bool:
    """Whether a digest's inquiry is one the bot no longer serves (its folder removed)."""
    catalogue = ctx.services.inquiries
    return catalogue is not None and bool(name) and catalogue.get(name) is None


def _whose(ctx: Context, name: str) -> str:
    """ " of <inquiry>" when the bot serves several, so a reply says which digest it means."""
    catalogue = ctx.services.inquiries
    if catalogue is None or not catalogue.several:
        return ""
    return f" of {_title(ctx, name)}"


def _title(ctx: Context, name: str) -> str:
    """The inquiry's full name; just its name once the bot no longer serves it."""
    catalogue = ctx.services.inquiries
    assert catalogue is not None
    return name if _gone(ctx, name) else catalogue.resolve(name).title


def _next(sub: Subscription, now: datetime) -> str:
    tz = ZoneInfo(sub.timezone)
    return describe_local(next_occurrence(sub.schedule, tz, now), tz)


# -- /subscribe, /pause, /resume, /unsubscribe ---------------------------------------------------


async def subscribe(ctx: Context, args: str) -> Reply:
    store = _store(ctx)
    await ctx.require_moderator("change this chat's digest")
    schedule = parse_schedule(args)
    chat = ctx.message.chat
    now = _now(ctx)
    name = _inquiry(ctx)
    whose = _whose(ctx, name)
    before = await store.get_subscription(chat.key, name)
    sub = await store.subscribe(chat, schedule, ctx.services.default_timezone, now, name)
    if before is None:
        opening = f"Subscribed: a digest{whose} {schedule.describe()}, {sub.timezone} time."
    elif not before.active:
        opening = (
            f"Restarted: a digest{whose} {schedule.describe()}, {sub.timezone} time, after "
            "deliveries here had stopped."
        )
    elif before.schedule == schedule and not before.paused:
        opening = (
            f"This chat already gets a digest{whose} {schedule.describe()}, {sub.timezone} time."
        )
    else:
        opening = f"Changed: a digest{whose} {schedule.describe()}, {sub.timezone} time."
        if before.paused:
            opening += " It is no longer paused."
    return text_reply(
        opening,
        f"The next one comes {_next(sub, now)}.",
        "Another zone: /timezone Area/City. Pause: /pause. Stop: /unsubscribe. "
        "See one now: /digest.",
    )


async def pause(ctx: Context, args: str) -> Reply:
    store = _store(ctx)
    await ctx.require_moderator("pause this chat's digest")
    name = _named(ctx, args, await _subscribed(store, ctx.message.chat.key))
    sub = await store.get_subscription(ctx.message.chat.key, name)
    if sub is None:
        raise UserInputError(
            f"This chat has no digest{_whose(ctx, name)} to pause. /subscribe starts one."
        )
    if sub.paused:
        return text_reply("The digest is already paused. /resume starts it again.")
    await store.set_paused(sub.chat_key, True, _now(ctx), name)
    return text_reply(
        f"Paused: no digests until you send /resume (it was {sub.schedule.describe()}). "
        "Digests that fall due while paused are not sent later."
    )


async def resume(ctx: Context, args: str) -> Reply:
    store = _store(ctx)
    await ctx.require_moderator("resume this chat's digest")
    name = _named(ctx, args, await _subscribed(store, ctx.message.chat.key))
    sub = await store.get_subscription(ctx.message.chat.key, name)
    if sub is None:
        raise UserInputError(
            f"Nothing to resume: this chat has no digest{_whose(ctx, name)}. "
            "/subscribe starts one."
        )
    now = _now(ctx)
    if not sub.active:
        return await _restart(ctx, store, sub, now)
    if not sub.paused:
        raise UserInputError(
            f"Nothing is paused: this chat's digest ({sub.schedule.describe()}) is running, "
            f"and the next one comes {_next(sub, now)}."
        )
    resumed = await store.set_paused(sub.chat_key, False, now, name)
    assert resumed is not None
    return text_reply(f"Resumed: the next digest comes {_next(resumed, now)}.")


async def _restart(ctx: Context, store: Store, sub: Subscription, now: datetime) -> Reply:
    """Deliveries had stopped (the platform said the bot could not post here): start them
    again on the same schedule, from now, keeping the chat's place in the review."""
    chat = ctx.message.chat
    restarted = await store.subscribe(
        chat, sub.schedule, ctx.services.default_timezone, now, sub.inquiry
    )
    return text_reply(
        f"Restarted: a digest {sub.schedule.describe()}, {restarted.timezone} time. The next "
        f"one comes {_next(restarted, now)}.",
        "If the bot still may not post here, deliveries stop again after one try: check "
        "its permissions in this chat.",
    )


async def unsubscribe(ctx: Context, args: str) -> Reply:
    store = _store(ctx)
    await ctx.require_moderator("stop this chat's digest")
    chat_key = ctx.message.chat.key
    name = _named(ctx, args, await _subscribed(store, chat_key))
    if args.strip() and normalise_name(args) != name:
        # Stopping a digest loses its place in the findings: a near miss is not enough.
        raise UserInputError(
            f"Did you mean {name}? To stop the digest{_whose(ctx, name)}, send "
            f"/unsubscribe {name}."
        )
    if not await store.unsubscribe(chat_key, name):
        others = [s.inquiry for s in await store.list_subscriptions(chat_key)]
        hint = f" It gets the digest of: {', '.join(others)}." if others else ""
        raise UserInputError(f"This chat has no digest{_whose(ctx, name)} to stop.{hint}")
    if await store.list_subscriptions(chat_key):
        return text_reply(
            f"Unsubscribed from the digest{_whose(ctx, name)}. Its other digests go on: "
            "/subscriptions lists them."
        )
    alerts = await store.list_alerts(chat_key)
    kept = (
        f" Its {len(alerts)} alert{'s' if len(alerts) != 1 else ''} and time zone are kept "
        "for if you subscribe again; /forget deletes everything."
        if alerts
        else ""
    )
    return text_reply(f"Unsubscribed: no more digests for this chat.{kept}")


# -- /timezone ---------------------------------------------------------------------------------


async def timezone(ctx: Context, args: str) -> Reply:
    store = _store(ctx)
    chat = ctx.message.chat
    now = _now(ctx)
    if not args.strip():
        zone = await _zone(ctx, store)
        return text_reply(
            f"This chat's time zone is {zone} (it is {_clock(now, zone)} there now).",
            "Change it with /timezone Area/City, for example /timezone Europe/London or "
            "/timezone America/New_York.",
        )
    await ctx.require_moderator("change this chat's time zone")
    name = canonical_timezone(args)
    await store.set_timezone(chat, name, now)
    paragraphs = [f"Time zone set to {name}: it is {_clock(now, name)} there now."]
    running = [s for s in await store.list_subscriptions(chat.key) if s.active and not s.paused]
    if running:
        soonest = min(running, key=lambda s: next_occurrence(s.schedule, ZoneInfo(name), now))
        paragraphs.append(f"The next digest comes {_next(soonest, now)}.")
    return text_reply(*paragraphs)


def _clock(now: datetime, zone: str) -> str:
    local = now.astimezone(ZoneInfo(zone))
    return f"{local:%H:%M} {local.tzname()} on {local:%A} {local.day} {local:%B}"


# -- /subscriptions ----------------------------------------------------------------------------


async def subscriptions(ctx: Context, args: str) -> Reply:
    store = _store(ctx)
    chat_key = ctx.message.chat.key
    now = _now(ctx)
    settings = await store.get_chat(chat_key)
    subs = await store.list_subscriptions(chat_key)
    alerts = await store.list_alerts(chat_key)
    zone = settings.timezone if settings else ctx.services.default_timezone
    catalogue = ctx.services.inquiries
    several = catalogue is not None and catalogue.several
    lines = ctx.services.views.render(
        "subscriptions.j2",
        digests=[
            {
                "name": sub.inquiry,
                "inquiry": _title(ctx, sub.inquiry) if catalogue and several else None,
                "gone": _gone(ctx, sub.inquiry),
                "schedule": sub.schedule.describe(),
                "paused": sub.paused,
                "stopped": not sub.active,
                "next": _next(sub, now) if sub.active and not sub.paused else None,
            }
            for sub in subs
        ],
        following=ctx.services.inquiry.title if several and ctx.services.inquiry else None,
        subscribed_here=any(sub.inquiry == _inquiry(ctx) for sub in subs),
        timezone=zone,
        local_now=_clock(now, zone),
        alerts=[a.words for a in alerts],
        template=await store.get_digest_template(chat_key),
        stopped_reason=settings.inactive_reason if settings and not settings.active else "",
    )
    return Reply(lines=lines)


# -- /digest -----------------------------------------------------------------------------------


def digest_preview(render_custom: RenderCustom | InquiryRenderers | None) -> Command:
    async def handler(ctx: Context, args: str) -> Reply:
        store = _store(ctx)
        chat = ctx.message.chat
        zone = await _zone(ctx, store)
        render = (
            render_custom(ctx.services)
            if isinstance(render_custom, InquiryRenderers)
            else render_custom
        )
        builder = digest_builder(ctx.services, store, render)
        sub = await store.get_subscription(chat.key, _inquiry(ctx))
        return await builder.preview(sub, chat.key, chat.platform, chat.id, zone, _now(ctx))

    return Command(
        "digest",
        "Show the next digest now (your schedule stays as it is)",
        "/digest",
        handler,
        group=GROUP,
        details="A preview: the digest that comes next shows the same finding and "
        "recommendation, and reading it here moves nothing on.",
    )


# -- /alert ------------------------------------------------------------------------------------


async def alert(ctx: Context, args: str) -> Reply:
    action, _, rest = args.strip().partition(" ")
    action = action.lower()
    if action in ("", "list"):
        return await _list_alerts(ctx)
    if action == "add":
        return await _add_alert(ctx, rest)
    if action in ("remove", "delete", "rm"):
        return await _remove_alert(ctx, rest)
    raise UserInputError(
        f'/alert takes add, list or remove. To watch for "{_short(args.strip())}", send '
        f"/alert add {_short(args.strip())}."
    )


def check_alert_words(raw: str) -> str:
    """The alert as it will be stored (white space folded), or why it can't be one."""
    words = raw.split()
    if not words:
        raise UserInputError("Which words should I watch for? For example: /alert add vetting")
    if len(words) > MAX_ALERT_WORDS:
        raise UserInputError(
            f"An alert can have at most {MAX_ALERT_WORDS} words; that one has "
            f"{len(words):,}. Alerts match passages holding all their words, so a few "
            "telling ones work best; add several alerts for several subjects."
        )
    text = " ".join(words)
    if len(text) > MAX_ALERT_CHARS:
        raise UserInputError(
            f"An alert can be at most {MAX_ALERT_CHARS} characters; that one has {len(text):,}."
        )
    if not content_words(text):
        raise UserInputError(
            "That alert has no words I can look for: common words like “the” and "
            "punctuation are skipped. Try a subject, such as /alert add vetting."
        )
    return text


async def _add_alert(ctx: Context, raw: str) -> Reply:
    store = _store(ctx)
    await ctx.require_moderator("change this chat's alerts")
    words = check_alert_words(raw)
    chat = ctx.message.chat
    existing = await store.list_alerts(chat.key)
    for number, old in enumerate(existing, 1):
        if old.words.casefold() == words.casefold():
            raise UserInputError(f"This chat already has that alert (number {number}).")
    if len(existing) >= MAX_ALERTS:
        raise UserInputError(
            f"This chat has {MAX_ALERTS} alerts, the most it can have. "
            "/alert list shows them; /alert remove N removes one."
        )
    await store.add_alert(chat, words, ctx.services.default_timezone, _now(ctx))
    paragraphs = [
        f"Alert {len(existing) + 1} added: “{words}”. Your digests will quote new passages "
        "that mention all of its words."
    ]
    if not await store.list_subscriptions(chat.key):
        paragraphs.append("Alerts come with the digest, and this chat has none: /subscribe.")
    return text_reply(*paragraphs)


async def _list_alerts(ctx: Context) -> Reply:
    store = _store(ctx)
    alerts = await store.list_alerts(ctx.message.chat.key)
    lines = ctx.services.views.render(
        "alerts.j2", alerts=[a.words for a in alerts], limit=MAX_ALERTS
    )
    return Reply(lines=lines)


async def _remove_alert(ctx: Context, raw: str) -> Reply:
    store = _store(ctx)
    await ctx.require_moderator("change this chat's alerts")
    alerts = await store.list_alerts(ctx.message.chat.key)
    target = _pick_alert(raw, alerts)
    await store.remove_alert(target.chat_key, target.id)
    return text_reply(f"Removed the alert “{target.words}”.")


def _pick_alert(raw: str, alerts: list[Alert]) -> Alert:
    token = raw.strip().lstrip("#")
    if not alerts:
        raise UserInputError("This chat has no alerts to remove.")
    if not token.isdigit():
        raise UserInputError(
            "Which alert? Send /alert remove N with its number from /alert list, "
            "for example /alert remove 1."
        )
    number = int(token)
    if not 1 <= number <= len(alerts):
        count = len(alerts)
        span = "1" if count == 1 else f"1–{count}"
        raise UserInputError(
            f"There is no alert {number}: this chat has {count} ({span}). /alert list shows them."
        )
    return alerts[number - 1]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# -- /forget -----------------------------------------------------------------------------------


async def forget(ctx: Context, args: str) -> Reply:
    store = _store(ctx)
    await ctx.require_moderator("delete what is stored for this chat")
    answer = args.strip().lower()
    if answer == "":
        return Reply(
            lines=text_reply(
                "This deletes everything stored for this chat: its digest, time zone, "
                "alerts, templates and delivery records. It can't be undone.",
                f"To go ahead, send /forget {CONFIRM} or press the button.",
            ).lines,
            buttons=((Button("Yes, forget this chat", f"/forget {CONFIRM}"),),),
        )
    if answer != CONFIRM:
        raise UserInputError(f"To delete this chat's data send /forget {CONFIRM}.")
    if not await store.forget_chat(ctx.message.chat.key):
        return text_reply("Nothing was stored for this chat.")
    return text_reply(
        "Done: everything stored for this chat is deleted. /subscribe starts again from scratch."
    )


# -- the table ---------------------------------------------------------------------------------


def subscription_commands(
    render_custom: RenderCustom | InquiryRenderers | None = None,
) -> list[Command]:
    """The digest commands. ``render_custom`` renders a chat's own digest template in
    /digest (``bot.templates.digest_render.make_render_custom``, or an
    :class:`InquiryRenderers` making one per inquiry); without it, the built-in."""
    return [
        Command(
            "subscribe",
            "Get a digest here daily or weekly, at your local time",
            "/subscribe [daily HH:MM | weekly DAY HH:MM]",
            subscribe,
            group=GROUP,
            args=(ArgInfo("schedule", "daily 07:30, or weekly mon 09:00 (default daily 08:00)"),),
            details="Alone, /subscribe means daily at 08:00. Times are 24-hour, in this "
            "chat's time zone (/timezone). Subscribing again changes the time.",
            examples=("/subscribe", "/subscribe daily 07:30", "/subscribe weekly mon 09:00"),
            moderator_only=True,
        ),
        Command(
            "timezone",
            "Show or set this chat's time zone",
            "/timezone [Area/City]",
            timezone,
            group=GROUP,
            args=(ArgInfo("zone", "An IANA zone name, such as Europe/London"),),
            details="Names are the IANA ones (tz database); daylight saving is handled.",
            examples=("/timezone", "/timezone Europe/London", "/timezone America/New_York"),
            moderator_only=True,
        ),
        Command(
            "subscriptions",
            "What this chat gets, and when the next digest comes",
            "/subscriptions",
            subscriptions,
            group=GROUP,
        ),
        Command(
            "pause",
            "Pause this chat's digest",
            "/pause",
            pause,
            group=GROUP,
            moderator_only=True,
        ),
        Command(
            "resume",
            "Resume a paused digest",
            "/resume",
            resume,
            group=GROUP,
            moderator_only=True,
        ),
        Command(
            "unsubscribe",
            "Stop this chat's digest (of one inquiry: /unsubscribe NAME)",
            "/unsubscribe [NAME]",
            unsubscribe,
            group=GROUP,
            args=(ArgInfo("inquiry", "Which inquiry's digest to stop (default: this chat's)"),),
            moderator_only=True,
        ),
        digest_preview(render_custom),
        Command(
            "alert",
            "Watch new documents for words: add, list or remove",
            "/alert add WORDS | /alert list | /alert remove N",
            alert,
            group=GROUP,
            aliases=("alerts",),
            args=(ArgInfo("action", "add WORDS, list, or remove N", required=False),),
            details=f"A digest quotes new passages holding all of an alert's words "
            f"(“vetting” also finds “vetted”). Up to {MAX_ALERTS} alerts of up to "
            f"{MAX_ALERT_WORDS} words each.",
            examples=("/alert add vetting", "/alert add stop and search", "/alert remove 2"),
            moderator_only=True,
        ),
        Command(
            "forget",
            "Delete everything stored for this chat",
            "/forget",
            forget,
            group=GROUP,
            args=(ArgInfo("confirm", "confirm, to go ahead", choices=(CONFIRM,)),),
            details="Asks first; /forget confirm deletes.",
            moderator_only=True,
        ),
    ]
