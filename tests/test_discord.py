"""The Discord adapter end to end, offline: gateway payloads in, recorded HTTP requests out."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from adapters.app import Config, build_services
from adapters.discord.answers import ReplyView
from adapters.discord.bot import DiscordAdapter, DiscordConfig, Shards
from adapters.discord.lib import discord
from adapters.discord.render import utf16_len
from bot.briefing_commands import build_table
from bot.commands import Command, Context
from bot.core import BriefingBot
from bot.digests.digest import DigestBuilder
from bot.digests.schedule import Frequency, Schedule
from bot.digests.scheduler import Scheduler
from bot.errors import ConfigError
from bot.messages import ChatKind, ChatRef, DeliveryStatus, Reply, SenderRef, Span, text_reply
from bot.paging import EXPIRED
from bot.ports import PlatformModerators
from bot.services import Services
from bot.store import InMemoryStore
from tests.discord_fakes import (
    APP_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    MEMBER,
    MEMBER_ID,
    MODERATOR,
    MODERATOR_ID,
    OTHER_CHANNEL_ID,
    OWNER,
    OWNER_ID,
    DiscordRecorder,
    FakeDiscord,
    GatewayStandin,
    Guild,
    Request,
    guild_on_shard,
    http_error,
    member,
    message,
    settle,
    text_channel,
    user,
)

MENTION = f"<@{APP_ID}>"
LONG_PARAGRAPH = (
    "The Met should establish a charter with Londoners on how and when stop and search is "
    "used, with an agreed rationale, and provide an annual account of its use by area. "
)


async def change_settings(ctx: Context, args: str) -> Reply:
    await ctx.require_moderator("change this chat's digest")
    return text_reply("Settings changed.")


async def long_answer(ctx: Context, args: str) -> Reply:
    paragraphs = [f"Paragraph {n}. " + LONG_PARAGRAPH * 2 for n in range(1, 19)]
    return text_reply(*paragraphs)  # about 5,400 characters


async def huge_answer(ctx: Context, args: str) -> Reply:
    # Paragraphs longer than a Discord message: a page of one takes two messages.
    return text_reply(*(f"Part {n}. " + LONG_PARAGRAPH * 15 for n in range(1, 4)))


async def where(ctx: Context, args: str) -> Reply:
    chat = ctx.message.chat
    return text_reply(f"{chat.key} {chat.kind} {chat.title} from {ctx.message.sender.name}")


# Test-only commands: a moderator-only one (until /subscribe exists), a long answer, and
# one that says which chat the core saw.
EXTRA = [
    Command("where", "Which chat this is", "/where", where),
    Command(
        "settings",
        "Change this chat's settings (moderators only)",
        "/settings",
        change_settings,
        moderator_only=True,
    ),
    Command("long", "A long answer", "/long", long_answer),
    Command("huge", "Paragraphs longer than a message", "/huge", huge_answer),
]


def moderated(services: Services) -> Services:
    return dataclasses.replace(services, moderators=PlatformModerators())


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiscordRecorder]:
    recorder = DiscordRecorder()
    recorder.install(monkeypatch)
    yield recorder
    assert not recorder.unexpected, f"unexpected Discord requests: {recorder.unexpected}"


@pytest.fixture
def briefing_bot(services: Services) -> BriefingBot:
    return BriefingBot(moderated(services), build_table(EXTRA))


@pytest.fixture
async def adapter(
    briefing_bot: BriefingBot, recorder: DiscordRecorder
) -> AsyncIterator[DiscordAdapter]:
    adapter = DiscordAdapter(briefing_bot, "test-token", message_content=True)
    await adapter.login()
    yield adapter
    await adapter.stop()


@pytest.fixture
async def fake(adapter: DiscordAdapter, recorder: DiscordRecorder) -> FakeDiscord:
    fake = FakeDiscord(adapter, recorder)
    await fake.join_guild()
    return fake


def only_message(requests: list[Request]) -> Request:
    sent = [r for r in requests if r.content]
    assert len(sent) == 1, [r.content[:80] for r in sent]
    return sent[0]


def assert_no_pings(request: Request) -> None:
    allowed = request.message["allowed_mentions"]
    assert allowed["parse"] == []  # no @everyone/@here, user or role pings
    assert not allowed.get("users") and not allowed.get("roles")
    assert not allowed.get("replied_user")


# -- slash commands ----------------------------------------------------------------------------


async def test_slash_recommendation_ten_answers_with_its_text(
    fake: FakeDiscord, recorder: DiscordRecorder
) -> None:
    sent = only_message(await fake.slash("recommendation", number=10))
    assert sent.path == "/interactions/{webhook_id}/{webhook_token}/callback"
    assert "**Recommendation 10 of 16**" in sent.content
    assert "stop and search in London by the Met needs a fundamental reset" in sent.content
    assert sent.labels == ["◀ Recommendation 9", "Recommendation 11 ▶"]
    assert_no_pings(sent)


async def test_slash_commands_are_generated_from_the_command_table(
    adapter: DiscordAdapter, briefing_bot: BriefingBot, recorder: DiscordRecorder
) -> None:
    sync = [r for r in recorder.requests if r.method == "PUT"]
    assert [r.path for r in sync] == ["/applications/{application_id}/commands"]  # globally
    commands = {c["name"]: c for c in sync[0].payload or []}
    assert list(commands) == [c.name for c in briefing_bot.table.menu()]
    assert not {"more", "page", "question"} & set(commands)  # hidden commands stay hidden
    assert all(0 < len(c["description"]) <= 100 for c in commands.values())
    (number,) = commands["recommendation"]["options"]
    assert number["type"] == 4  # an integer option
    # No fixed maximum: each inquiry has its own count, and autocomplete offers the chat's.
    assert number["min_value"] == 1 and "max_value" not in number
    assert number["required"] and number["autocomplete"]
    assert "max_value" not in commands["finding"]["options"][0]
    assert commands["search"]["options"][0]["type"] == 3  # text
    assert int(commands["settings"]["default_member_permissions"]) == MANAGE_GUILD
    assert commands["findings"]["default_member_permissions"] is None


async def test_commands_sync_to_one_server_when_a_guild_is_configured(
    briefing_bot: BriefingBot, recorder: DiscordRecorder
) -> None:
    adapter = DiscordAdapter(briefing_bot, "test-token", guild_id=GUILD_ID)
    try:
        await adapter.login()
        sync = [r for r in recorder.requests if r.method == "PUT"]
        assert [r.path for r in sync] == [
            "/applications/{application_id}/guilds/{guild_id}/commands"
        ]
        assert f"/guilds/{GUILD_ID}/commands" in sync[0].url
        fake = FakeDiscord(adapter, recorder)
        await fake.join_guild()
        assert "Finding 4 of 8" in only_message(await fake.slash("finding", number=4)).content
    finally:
        await adapter.stop()


async def test_autocomplete_finds_a_recommendation_by_the_words_of_its_title(
    fake: FakeDiscord,
) -> None:
    (answer,) = await fake.autocomplete("recommendation", "number", "vetting")
    payload = answer.payload if isinstance(answer.payload, dict) else {}
    assert payload["type"] == 8  # autocomplete result
    choices = payload["data"]["choices"]
    assert choices and all(len(c["name"]) <= 100 for c in choices)
    assert [c["value"] for c in choices] == [2, 3]  # both mention vetting
    assert choices[1]["name"].startswith("3 · Vetting standards should be changed")
    (by_number,) = await fake.autocomplete("recommendation", "number", "1")
    numbers = [c["value"] for c in (by_number.payload or {})["data"]["choices"]]  # type: ignore[call-overload]
    assert numbers == [1, 10, 11, 12, 13, 14, 15, 16]


async def test_slow_answers_are_deferred_before_discords_deadline(
    services: Services, recorder: DiscordRecorder
) -> None:
    callback = "/interactions/{webhook_id}/{webhook_token}/callback"

    async def slow(ctx: Context, args: str) -> Reply:
        # Still working when the adapter's deadline passes: done once Discord was told.
        for _ in range(1000):
            if recorder.requests_to("POST", callback):
                break
            await asyncio.sleep(0)
        return text_reply("Done at last.")

    command = Command("slow", "A slow answer", "/slow", slow)
    bot = BriefingBot(moderated(services), build_table([command]))
    adapter = DiscordAdapter(bot, "test-token", defer_after=0)
    try:
        await adapter.login()
        fake = FakeDiscord(adapter, recorder)
        await fake.join_guild()
        deferred, answer = await fake.slash("slow")
        assert isinstance(deferred.payload, dict) and deferred.payload["type"] == 5  # thinking…
        assert answer.method == "PATCH" and answer.url.endswith("/messages/@original")
        assert answer.content == "Done at last."
    finally:
        await adapter.stop()


# -- text: mentions and prefix commands -------------------------------------------------------


async def test_a_question_asked_by_mentioning_the_bot(fake: FakeDiscord) -> None:
    sent = only_message(
        await fake.say(f"{MENTION} what does the review say about vetting?", mentions_bot=True)
    )
    assert sent.path == "/channels/{channel_id}/messages"
    assert f"/channels/{CHANNEL_ID}/" in sent.url
    assert "What the documents say about" in sent.content
    assert "Vetting" in sent.content
    assert_no_pings(sent)


async def test_prefix_commands_are_answered_and_other_bots_commands_are_not(
    fake: FakeDiscord,
) -> None:
    findings = only_message(await fake.say("!findings"))
    assert "There are systemic and fundamental problems in how the Met is run" in findings.content
    assert await fake.say("!play some music") == []  # another bot's command
    assert await fake.say("good morning everyone") == []  # chatter
    assert await fake.say("!findings", author=user(42_0000000000000000, "otherbot", bot=True)) == []


async def test_in_a_dm_every_message_is_for_the_bot(fake: FakeDiscord) -> None:
    sent = await fake.say("misconduct", guild_id=None, channel_id=DM_CHANNEL_ID)
    assert sent and all(f"/channels/{DM_CHANNEL_ID}/" in r.url for r in sent)
    assert "What the documents say about “misconduct”" in sent[0].content


async def test_lone_surrogates_are_dropped_and_the_question_answered(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    # Gateway JSON can carry "\ud800" unpaired; such a str cannot be encoded as UTF-8.
    odd = dataclasses.replace(MEMBER, user=MEMBER.user | {"global_name": "Mel\udc00"})
    typed = only_message(
        await fake.say("\ud800 vetting", odd, guild_id=None, channel_id=DM_CHANNEL_ID)
    )
    slashed = only_message(await fake.slash("search", odd, words="vetting \udfff"))
    for sent in (typed, slashed):
        assert "What the documents say about “vetting”" in sent.content
        sent.content.encode("utf-8")  # would raise on a surrogate
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_without_the_message_content_intent_slash_commands_still_work(
    briefing_bot: BriefingBot, recorder: DiscordRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.discord.bot")
    adapter = DiscordAdapter(briefing_bot, "test-token")
    try:
        await adapter.login()
        assert adapter.client.intents.message_content is False
        fake = FakeDiscord(adapter, recorder)
        await fake.join_guild()
        # Discord sends channel messages without their text to such a bot.
        assert await fake.say("") == []
        assert (
            "Recommendation 5 of 16"
            in only_message(await fake.slash("recommendation", number=5)).content
        )
        # Mentions keep their text without the intent.
        assert only_message(await fake.say(f"{MENTION} vetting", mentions_bot=True)).content
        said = [r for r in caplog.records if "message content intent off" in r.getMessage()]
        assert len(said) == 1
    finally:
        await adapter.stop()


async def test_a_channel_is_a_group_chat_and_a_dm_is_private(fake: FakeDiscord) -> None:
    in_server = only_message(await fake.slash("where", MODERATOR)).content
    assert in_server == f"discord:{CHANNEL_ID} group Inquiry Watchers #general from Mo"
    in_dm = only_message(await fake.slash("where", guild_id=None, channel_id=DM_CHANNEL_ID))
    assert in_dm.content == f"discord:{DM_CHANNEL_ID} private DM with mel from Mel"
    by_text = only_message(await fake.say("!where", channel_id=OTHER_CHANNEL_ID)).content
    assert by_text == f"discord:{OTHER_CHANNEL_ID} group Inquiry Watchers #news from Mel"


async def test_the_prefix_is_configurable_and_mentions_take_either_form(
    briefing_bot: BriefingBot, recorder: DiscordRecorder
) -> None:
    adapter = DiscordAdapter(briefing_bot, "test-token", prefix="?", message_content=True)
    try:
        await adapter.login()
        fake = FakeDiscord(adapter, recorder)
        await fake.join_guild()
        assert "Finding 2 of 8" in (await fake.say("?finding 2"))[0].content
        assert await fake.say("!finding 2") == []
        nickname_mention = f"<@!{APP_ID}> ?finding 3"
        sent = await fake.say(nickname_mention, mentions_bot=True)
        assert "Finding 3 of 8" in sent[0].content
    finally:
        await adapter.stop()


# -- moderators ---------------------------------------------------------------------------------


EPHEMERAL = 64  # Discord's message flag: only the person who asked sees it


async def test_a_moderator_command_needs_manage_server(fake: FakeDiscord) -> None:
    refused = only_message(await fake.slash("settings", MEMBER))
    assert refused.content == (
        "Only this chat's moderators (members with the Manage Server permission) can "
        "change this chat's digest."
    )
    assert refused.response_type == 4 and refused.flags & EPHEMERAL
    allowed = only_message(await fake.slash("settings", MODERATOR))
    assert allowed.content == "Settings changed." and not allowed.flags & EPHEMERAL
    assert only_message(await fake.slash("settings", OWNER)).content == "Settings changed."


async def test_prefix_moderator_commands_read_the_members_roles(fake: FakeDiscord) -> None:
    assert "Only this chat's moderators" in only_message(await fake.say("!settings")).content
    allowed = only_message(await fake.say("!settings", MODERATOR))
    assert allowed.content == "Settings changed."


async def test_in_a_dm_the_user_is_their_own_moderator(fake: FakeDiscord) -> None:
    sent = only_message(
        await fake.slash("settings", MEMBER, guild_id=None, channel_id=DM_CHANNEL_ID)
    )
    assert sent.content == "Settings changed."


async def test_outside_a_command_moderators_are_looked_up_when_asked(
    fake: FakeDiscord, adapter: DiscordAdapter, recorder: DiscordRecorder
) -> None:
    channel = adapter_chat(CHANNEL_ID)
    recorder.members[MODERATOR_ID] = member(MODERATOR.user, MODERATOR.roles)
    recorder.members[OWNER_ID] = member(OWNER.user)
    check = adapter.moderators.is_moderator
    assert await check(channel, SenderRef(str(MODERATOR_ID), "Mo")) is True
    assert await check(channel, SenderRef(str(MEMBER_ID), "Mel")) is False  # 404: not a member
    assert await check(channel, SenderRef(str(OWNER_ID), "Olivia")) is True  # owns the server
    dm = ChatRef("discord", str(DM_CHANNEL_ID), ChatKind.PRIVATE)
    assert await check(dm, SenderRef(str(MEMBER_ID), "Mel")) is True
    elsewhere = ChatRef("telegram", str(CHANNEL_ID), ChatKind.GROUP)
    assert await check(elsewhere, SenderRef(str(MODERATOR_ID), "Mo")) is False


# -- rendering what is sent ---------------------------------------------------------------------


async def test_a_long_reply_is_split_under_2000_characters_with_nothing_lost(
    adapter: DiscordAdapter, recorder: DiscordRecorder
) -> None:
    reply = await long_answer(None, "")  # type: ignore[arg-type]
    assert len(reply.plain) > 5000
    outcome = await adapter.sender.send(str(CHANNEL_ID), reply)
    assert outcome.status == DeliveryStatus.DELIVERED
    sent = recorder.messages()
    assert len(sent) >= 3
    assert all(utf16_len(r.content) <= 2000 for r in sent)
    assert all(r.content.startswith("Paragraph ") for r in sent)  # split between paragraphs
    words = " ".join(r.content for r in sent).replace("\\", "").split()
    assert words == reply.plain.split()
    for request in sent:
        assert_no_pings(request)


async def test_a_long_answer_is_paged_one_message_a_page_turned_in_place(
    fake: FakeDiscord,
) -> None:
    first = only_message(await fake.slash("long"))
    assert first.response_type == 4 and utf16_len(first.content) <= 2000
    assert first.content.startswith("Paragraph 1.") and "Page 1 of 4" in first.content
    assert first.labels == ["Next ▶"]
    shown = [first.content]
    pressed = first
    for number in (2, 3, 4):
        # Discord's UPDATE_MESSAGE (type 7): the pressed message becomes the next page.
        pressed = only_message(await fake.press(pressed, "Next ▶"))
        assert pressed.response_type == 7 and pressed.path.endswith("/callback")
        assert f"Page {number} of 4" in pressed.content and utf16_len(pressed.content) <= 2000
        assert_no_pings(pressed)
        shown.append(pressed.content)
    assert pressed.labels == ["◀ Previous"]
    back = only_message(await fake.press(pressed, "◀ Previous"))
    assert back.response_type == 7 and "Page 3 of 4" in back.content
    paragraphs = [p for page in shown for p in page.split("\n\n") if p.startswith("Paragraph")]
    assert [p.split(".")[0] for p in paragraphs] == [f"Paragraph {n}" for n in range(1, 19)]


async def test_a_page_too_long_for_one_message_disables_the_pressed_buttons(
    fake: FakeDiscord, recorder: DiscordRecorder
) -> None:
    first = await fake.slash("huge")
    assert len(first) == 2 and first[-1].labels == ["Next ▶"]
    turned = await fake.press(first[-1], "Next ▶")
    update, *pieces = turned
    assert update.response_type == 7 and update.content == ""  # only the buttons change
    assert [b["disabled"] for row in update.components for b in row["components"]] == [True]
    followup = "/webhooks/{webhook_id}/{webhook_token}"
    assert len(pieces) == 2 and all(r.path == followup for r in pieces)
    assert "Page 2 of 3" in pieces[-1].content
    assert pieces[-1].labels == ["◀ Previous", "Next ▶"]


async def test_everyone_inside_a_document_pings_nobody(
    tmp_path: Path, recorder: DiscordRecorder
) -> None:
    (tmp_path / "forum-post.txt").write_text(
        "Forum post about vetting\n\n"
        "@everyone read the vetting chapter now, @here too, and <@&1100000000000000500>.\n",
        encoding="utf-8",
    )
    services = build_services(Config(corpus_dir=tmp_path, cache_dir=None, db_path=None))
    bot = BriefingBot(moderated(services), build_table())
    adapter = DiscordAdapter(bot, "test-token", message_content=True)
    try:
        await adapter.login()
        fake = FakeDiscord(adapter, recorder)
        await fake.join_guild()
        sent = only_message(await fake.say(f"{MENTION} vetting chapter", mentions_bot=True))
        assert_no_pings(sent)
        assert "@\u200beveryone" in sent.content and "@\u200bhere" in sent.content
        assert "<@\u200b&1100000000000000500>" in sent.content
        assert "@everyone" not in sent.content and "@here" not in sent.content
    finally:
        await adapter.stop()


async def test_the_search_heading_shows_a_mention_as_typed(fake: FakeDiscord) -> None:
    sent = only_message(await fake.slash("search", words="<@123> vetting"))
    heading = sent.content.splitlines()[0]
    assert "\\<@123> vetting" in heading  # Discord shows "<@123> vetting", no mention pill
    assert re.search(r"(?<!\\)<@", sent.content) is None
    assert_no_pings(sent)


# -- buttons ------------------------------------------------------------------------------------


async def test_a_neighbour_button_shows_the_next_recommendation(fake: FakeDiscord) -> None:
    first = only_message(await fake.slash("recommendation", number=10))
    after = only_message(await fake.press(first, "Recommendation 11 ▶"))
    assert "Recommendation 11 of 16" in after.content


async def test_an_expired_or_forged_page_button_is_answered_safely(fake: FakeDiscord) -> None:
    sent = only_message(await fake.press_custom_id("ib:/page 99 2"))
    assert sent.content == EXPIRED
    assert sent.response_type == 4 and sent.flags & EPHEMERAL  # the list shown stays as it is
    assert_no_pings(sent)


async def test_a_slow_refusal_after_a_button_press_is_still_only_for_the_presser(
    services: Services, recorder: DiscordRecorder
) -> None:
    callback = "/interactions/{webhook_id}/{webhook_token}/callback"

    async def slow_settings(ctx: Context, args: str) -> Reply:
        for _ in range(1000):  # still working when the adapter defers
            if recorder.requests_to("POST", callback):
                break
            await asyncio.sleep(0)
        return await change_settings(ctx, args)

    command = Command("slow", "A slow refusal", "/slow", slow_settings)
    bot = BriefingBot(moderated(services), build_table([command]))
    adapter = DiscordAdapter(bot, "test-token", defer_after=0)
    try:
        await adapter.login()
        fake = FakeDiscord(adapter, recorder)
        await fake.join_guild()
        deferral, answer = await fake.press_custom_id("ib:/slow", label="Settings")
        assert deferral.response_type == 6  # "updating the message": no public "thinking…"
        assert answer.path == "/webhooks/{webhook_id}/{webhook_token}"  # a follow-up
        assert "Manage Server" in answer.content and answer.flags & EPHEMERAL
    finally:
        await adapter.stop()


async def test_buttons_are_disabled_when_their_view_times_out_and_still_answer(
    fake: FakeDiscord, adapter: DiscordAdapter, recorder: DiscordRecorder
) -> None:
    first = await fake.slash("long")
    assert len(first) == 1
    views = [v for v in adapter.answers.views if isinstance(v, ReplyView)]
    assert len(views) == 1
    before = len(recorder.requests)
    await views[0].on_timeout()  # what discord.py calls when the timeout passes
    (edit,) = recorder.since(before)
    assert edit.method == "PATCH"
    assert [b["disabled"] for row in edit.components for b in row["components"]] == [True]
    assert not adapter.answers.views
    # A press that still arrives (an old client, a restart) is answered, not dropped.
    pressed = await fake.press(first[-1], "Next ▶")
    assert "Page 2 of 4" in pressed[-1].content


async def test_turning_a_page_stops_the_old_pages_timer(
    fake: FakeDiscord, adapter: DiscordAdapter, recorder: DiscordRecorder
) -> None:
    first = only_message(await fake.slash("long"))
    [old] = adapter.answers.views
    second = only_message(await fake.press(first, "Next ▶"))
    [new] = adapter.answers.views
    assert old.is_finished() and new is not old
    before = len(recorder.requests)
    await new.on_timeout()
    (edit,) = recorder.since(before)  # the shown page (page 2) gets its buttons disabled
    assert [b["label"] for row in edit.components for b in row["components"]] == second.labels


# -- delivery outcomes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(403, 50001), (403, 50013), (403, 50007), (404, 10003)]
)
async def test_a_dead_channel_is_gone_after_one_request(
    adapter: DiscordAdapter, recorder: DiscordRecorder, status: int, code: int
) -> None:
    recorder.fail("POST", "/channels/{channel_id}/messages", http_error(status, code), times=5)
    reply = await long_answer(None, "")  # type: ignore[arg-type]
    outcome = await adapter.sender.send(str(CHANNEL_ID), reply)
    assert outcome.status == DeliveryStatus.GONE
    assert str(code) in outcome.reason
    assert len(recorder.requests_to("POST", "/channels/{channel_id}/messages")) == 1


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (discord.RateLimited(75.0), DeliveryStatus.RETRY, 75.0),
        (http_error(503), DeliveryStatus.RETRY, None),
        (ConnectionResetError(), DeliveryStatus.RETRY, None),
        (http_error(400, 50035, "Invalid Form Body"), DeliveryStatus.FAILED, None),
    ],
)
async def test_other_failures_are_retried_or_reported(
    adapter: DiscordAdapter,
    recorder: DiscordRecorder,
    error: Exception,
    status: DeliveryStatus,
    retry_after: float | None,
) -> None:
    recorder.fail("POST", "/channels/{channel_id}/messages", error)
    outcome = await adapter.sender.send(str(CHANNEL_ID), text_reply("Your daily briefing"))
    assert (outcome.status, outcome.retry_after) == (status, retry_after)


async def test_the_scheduler_deactivates_a_channel_discord_forbids(
    adapter: DiscordAdapter, recorder: DiscordRecorder, services: Services
) -> None:
    store = InMemoryStore()
    subscribed = datetime(2024, 3, 4, 7, 0, tzinfo=UTC)
    for channel in (CHANNEL_ID, OTHER_CHANNEL_ID):
        chat = adapter_chat(channel)
        await store.ensure_chat(chat, "Europe/London", subscribed)
        await store.subscribe(
            chat, Schedule(Frequency.DAILY, time(8, 0)), "Europe/London", subscribed
        )
    recorder.fail(
        "POST", "/channels/{channel_id}/messages", http_error(403, 50001, "Missing Access")
    )
    scheduler = Scheduler(
        store,
        {"discord": adapter.sender},
        DigestBuilder(services.corpus, services.views, store),
        services.clock,
    )
    records = await scheduler.run_once(datetime(2024, 3, 4, 8, 1, tzinfo=UTC))
    assert sorted(r.status for r in records) == ["delivered", "gone"]
    gone = next(r for r in records if r.status == "gone")
    settings = await store.get_chat(f"discord:{gone.chat}")
    assert settings is not None and not settings.active
    posts = len(recorder.requests_to("POST", "/channels/{channel_id}/messages"))
    await scheduler.run_once(datetime(2024, 3, 5, 8, 1, tzinfo=UTC))
    tomorrow = recorder.requests_to("POST", "/channels/{channel_id}/messages")[posts:]
    assert tomorrow and all(f"/channels/{gone.chat}/" not in r.url for r in tomorrow)
    await store.close()


def adapter_chat(channel_id: int) -> ChatRef:
    """The chat the adapter makes for a server channel."""
    return ChatRef("discord", str(channel_id), ChatKind.GROUP, "Inquiry Watchers #general")


async def test_removing_the_bot_from_a_server_deactivates_its_channels(
    briefing_bot: BriefingBot, recorder: DiscordRecorder
) -> None:
    gone: list[tuple[str, str]] = []

    async def chat_gone(chat_key: str, reason: str) -> None:
        gone.append((chat_key, reason))

    adapter = DiscordAdapter(briefing_bot, "test-token", on_chat_gone=chat_gone)
    try:
        await adapter.login()
        fake = FakeDiscord(adapter, recorder)
        await fake.join_guild()
        await fake.leave_guild()
        assert sorted(key for key, _ in gone) == [
            f"discord:{CHANNEL_ID}",
            f"discord:{OTHER_CHANNEL_ID}",
        ]
        assert all("removed from server Inquiry Watchers" in reason for _, reason in gone)
        gone.clear()
        await fake.join_guild()
        fake.state.parse_channel_delete(text_channel(OTHER_CHANNEL_ID, "news"))
        await settle()
        assert gone == [(f"discord:{OTHER_CHANNEL_ID}", "channel #news deleted")]
    finally:
        await adapter.stop()


async def test_start_connects_in_the_background_and_explains_a_refused_intent(
    briefing_bot: BriefingBot,
    recorder: DiscordRecorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = DiscordAdapter(briefing_bot, "test-token", message_content=True)
    message_content = discord.Intents(message_content=True).value
    # Discord closes each shard's connection with 4014 after its IDENTIFY asks for the intent.
    async with GatewayStandin(recommended=2, refuse_intents=message_content) as gateway:
        recorder.use_gateway(monkeypatch, gateway)
        try:
            await adapter.start()
            assert [r.path for r in recorder.requests][:2] == [
                "/users/@me",
                "/oauth2/applications/@me",
            ]
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await asyncio.wait_for(adapter.wait_closed(), 10)
            await gateway.until_identified(2)
        finally:
            await adapter.stop()
    assert "enable it for the bot in the developer portal" in caplog.text
    # Start-up stopped: each shard asked once, none tried again.
    assert sorted(gateway.shards) == [(0, 2), (1, 2)]
    assert adapter.client.is_closed()


async def test_start_runs_as_many_shards_as_discord_recommends(
    briefing_bot: BriefingBot, recorder: DiscordRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = DiscordAdapter(briefing_bot, "test-token")
    async with GatewayStandin(recommended=3) as gateway:
        recorder.use_gateway(monkeypatch, gateway)
        try:
            await adapter.start()
            await gateway.until_identified(3)
            await until(lambda: len(adapter.client.shards) == 3)
        finally:
            await adapter.stop()
    assert len(recorder.requests_to("GET", "/gateway/bot")) == 1
    assert sorted(gateway.shards) == [(0, 3), (1, 3), (2, 3)]
    assert adapter.client.shard_count == 3


async def test_shard_settings_restrict_this_process_to_its_shards(
    briefing_bot: BriefingBot, recorder: DiscordRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"DISCORD_BOT_TOKEN": "x", "DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1,3"}
    config = DiscordConfig.from_env(env)
    assert config is not None
    adapter = DiscordAdapter.from_config(briefing_bot, config)
    mine, elsewhere = guild_on_shard(1, 4), guild_on_shard(2, 4)
    guilds = (Guild(mine, (CHANNEL_ID, OTHER_CHANNEL_ID)), Guild(elsewhere, (7001, 7002)))
    async with GatewayStandin(recommended=1, guilds=guilds) as gateway:
        recorder.use_gateway(monkeypatch, gateway)
        try:
            await adapter.start()
            await gateway.until_identified(2)
            await until(lambda: adapter.client.get_guild(mine) is not None)
            assert adapter.client.get_guild(elsewhere) is None  # another process's shard
            # Yet a digest for a channel there goes out from this process.
            outcome = await adapter.sender.send("7002", text_reply("Your daily briefing"))
            assert outcome.status is DeliveryStatus.DELIVERED
        finally:
            await adapter.stop()
    # The count is the operator's, not Discord's recommendation, which is not asked for.
    assert recorder.requests_to("GET", "/gateway/bot") == []
    assert sorted(gateway.shards) == [(1, 4), (3, 4)]
    assert [r.url.split("/")[-2] for r in recorder.messages()] == ["7002"]


async def test_every_shard_answers_its_servers_and_gets_their_digests(
    briefing_bot: BriefingBot,
    recorder: DiscordRecorder,
    monkeypatch: pytest.MonkeyPatch,
    services: Services,
) -> None:
    # Two servers, one on each of the two shards Discord recommends.
    second = guild_on_shard(1, 2)
    guilds = (
        Guild(guild_on_shard(0, 2), (CHANNEL_ID, OTHER_CHANNEL_ID)),
        Guild(second, (CHANNEL_ID + 10, OTHER_CHANNEL_ID + 10), "Second Server"),
    )
    adapter = DiscordAdapter(briefing_bot, "test-token", message_content=True)
    store = InMemoryStore()
    subscribed = datetime(2024, 3, 4, 7, 0, tzinfo=UTC)
    for guild in guilds:
        chat = ChatRef("discord", str(guild.channels[1]), ChatKind.GROUP, guild.name)
        await store.subscribe(
            chat, Schedule(Frequency.DAILY, time(8, 0)), "Europe/London", subscribed
        )
    scheduler = Scheduler(
        store,
        {"discord": adapter.sender},
        DigestBuilder(services.corpus, services.views, store),
        services.clock,
    )
    async with GatewayStandin(recommended=2, guilds=guilds) as gateway:
        recorder.use_gateway(monkeypatch, gateway)
        try:
            await adapter.start()
            await gateway.until_identified(2)
            await until(lambda: all(adapter.client.get_guild(g.id) for g in guilds))
            known = [adapter.client.get_guild(g.id) for g in guilds]
            assert sorted(g.shard_id for g in known if g is not None) == [0, 1]

            before = len(recorder.requests)
            said = message(
                recorder.new_id(),
                guilds[1].channels[0],
                MEMBER.user,
                "!where",
                guild_id=second,
                author_member=member(MEMBER.user),
            )
            await gateway.connection(1).dispatch("MESSAGE_CREATE", said)
            await until(lambda: bool(recorder.messages(recorder.since(before))))
            answer = only_message(recorder.since(before))
            assert f"/channels/{guilds[1].channels[0]}/messages" in answer.url
            assert answer.content.startswith(f"discord:{guilds[1].channels[0]} group")

            records = await scheduler.run_once(datetime(2024, 3, 4, 8, 1, tzinfo=UTC))
        finally:
            await adapter.stop()
            await store.close()
    assert sorted(r.status for r in records) == ["delivered", "delivered"]
    posted = {r.url.split("/channels/")[1].split("/")[0] for r in recorder.messages()}
    assert {str(g.channels[1]) for g in guilds} <= posted


async def test_stopping_closes_the_gateway_normally(
    briefing_bot: BriefingBot, recorder: DiscordRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = DiscordAdapter(briefing_bot, "test-token")
    async with GatewayStandin(recommended=2) as gateway:
        recorder.use_gateway(monkeypatch, gateway)
        try:
            await adapter.start()
            await gateway.until_identified(2)
            await until(
                lambda: (
                    len(adapter.client.shards) == 2
                    and not any(s.is_closed() for s in adapter.client.shards.values())
                )
            )
            await asyncio.sleep(0.05)  # each shard is now waiting for its next event
        finally:
            await adapter.stop()
        await until(lambda: len(gateway.close_codes) == 2)
    # 1000 ends each session: Discord shows the bot offline at once, not after a timeout.
    assert gateway.close_codes == [1000, 1000]


async def test_an_unreachable_discord_at_start_is_tried_again_one_line_each_time(
    briefing_bot: BriefingBot,
    recorder: DiscordRecorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    adapter = DiscordAdapter(briefing_bot, "test-token", sleep=sleep)
    unreachable = OSError("Cannot connect to host discord.com:443 [Name or service not known]")
    recorder.fail("GET", "/users/@me", unreachable, times=2)
    recorder.fail("GET", "/users/@me", http_error(502))  # then its servers fail once
    async with GatewayStandin(recommended=1) as gateway:
        recorder.use_gateway(monkeypatch, gateway)
        try:
            await adapter.start()
            await gateway.until_identified(1)  # it got through in the end
        finally:
            await adapter.stop()
    assert delays == [1.0, 2.0, 4.0]  # doubling, up to once a minute
    tries = [r for r in caplog.records if "could not reach Discord" in r.getMessage()]
    assert len(tries) == 3 and all(r.exc_info is None for r in tries)
    assert "Name or service not known" in tries[0].getMessage()
    assert "test-token" not in caplog.text


async def test_a_refused_token_at_start_is_a_configuration_error(
    briefing_bot: BriefingBot, recorder: DiscordRecorder
) -> None:
    adapter = DiscordAdapter(briefing_bot, "test-token")
    recorder.fail("GET", "/users/@me", http_error(401, 0, "401: Unauthorized"))
    try:
        with pytest.raises(ConfigError, match="Discord refused the bot token.*DISCORD_BOT_TOKEN"):
            await adapter.start()
    finally:
        await adapter.stop()


async def test_stopping_an_adapter_that_never_started_is_harmless(
    briefing_bot: BriefingBot, recorder: DiscordRecorder
) -> None:
    adapter = DiscordAdapter(briefing_bot, "test-token")
    await adapter.stop()
    assert recorder.requests == []


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


# -- configuration ------------------------------------------------------------------------------


def test_configuration_comes_from_the_environment() -> None:
    assert DiscordConfig.from_env({}) is None
    config = DiscordConfig.from_env(
        {
            "DISCORD_BOT_TOKEN": " secret ",
            "DISCORD_GUILD_ID": str(GUILD_ID),
            "DISCORD_COMMAND_PREFIX": "?",
            "DISCORD_MESSAGE_CONTENT": "1",
        }
    )
    assert config == DiscordConfig("secret", GUILD_ID, "?", True)
    with pytest.raises(ConfigError, match="DISCORD_GUILD_ID"):
        DiscordConfig.from_env({"DISCORD_BOT_TOKEN": "x", "DISCORD_GUILD_ID": "my server"})
    with pytest.raises(ConfigError, match="DISCORD_COMMAND_PREFIX"):
        DiscordConfig.from_env({"DISCORD_BOT_TOKEN": "x", "DISCORD_COMMAND_PREFIX": "bot"})


def test_shards_from_the_environment(briefing_bot: BriefingBot, recorder: DiscordRecorder) -> None:
    base = {"DISCORD_BOT_TOKEN": "x"}
    for automatic in ({}, {"DISCORD_SHARD_COUNT": "auto"}):
        config = DiscordConfig.from_env({**base, **automatic})
        assert config is not None and config.shards == Shards()
        client = DiscordAdapter.from_config(briefing_bot, config).client
        assert isinstance(client, discord.AutoShardedClient) and client.shard_count is None
    split = DiscordConfig.from_env({**base, "DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "2,3"})
    assert split is not None and split.shards == Shards(4, (2, 3))
    client = DiscordAdapter.from_config(briefing_bot, split).client
    assert (client.shard_count, client.shard_ids) == (4, [2, 3])
    every = DiscordConfig.from_env({**base, "DISCORD_SHARD_COUNT": "2"})
    assert every is not None and every.shards == Shards(2, (0, 1))
    for bad in ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "3,4"},
                {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1,1"},
                {"DISCORD_SHARD_IDS": "0"}, {"DISCORD_SHARD_COUNT": "many"},
                {"DISCORD_SHARD_COUNT": "0"}):  # fmt: skip
        with pytest.raises(ConfigError, match="DISCORD_SHARD"):
            DiscordConfig.from_env({**base, **bad})


async def test_a_digest_in_several_messages_can_resume_part_way(
    adapter: DiscordAdapter, recorder: DiscordRecorder
) -> None:
    words = "the review found failings. " * 60
    paragraphs = tuple((Span(f"Part {n}: {words}"),) for n in (1, 2, 3))
    reply = Reply(lines=tuple(line for p in paragraphs for line in (p, ())))
    reported: list[tuple[int, int]] = []

    async def delivered(sent: int, total: int) -> None:
        reported.append((sent, total))

    posts = "/channels/{channel_id}/messages"
    recorder.fail("POST", posts, http_error(500, 0, "Internal Server Error"))
    failed = await adapter.sender.send_parts(str(CHANNEL_ID), reply, 1, delivered)
    assert failed.status is DeliveryStatus.RETRY and reported == []

    outcome = await adapter.sender.send_parts(str(CHANNEL_ID), reply, 1, delivered)
    assert outcome.status is DeliveryStatus.DELIVERED
    sent = [r.content for r in recorder.requests_to("POST", posts)]
    assert [text[:7] for text in sent] == ["Part 2:", "Part 2:", "Part 3:"]  # never part 1
    assert reported == [(2, 3), (3, 3)]
