"""The Telegram adapter end to end: real python-telegram-bot updates through the real
Application and the core, to the Bot API requests it makes (recorded, never sent)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update
from telegram.error import NetworkError, TimedOut

from adapters.app import build_bot
from adapters.telegram.bot import FLOOD_NOTICE, TelegramAdapter
from adapters.telegram.render import MESSAGE_LIMIT, utf16_len
from bot.briefing_commands import build_table
from bot.commands import Command, Context
from bot.core import BriefingBot
from bot.digests.schedule import parse_schedule
from bot.errors import ConfigError
from bot.messages import Button, ChatKind, ChatRef, DeliveryStatus, Reply, Span, text_reply
from bot.paging import EXPIRED
from bot.services import Services
from bot.store import InMemoryStore
from tests.telegram_standin import (
    ADA,
    ANONYMOUS_ADMIN_BOT,
    BEN,
    BOT_ID,
    BOT_USER,
    BOT_USERNAME,
    GROUP,
    PRIVATE,
    PRIVATE_BEN,
    SUPERGROUP_ID,
    TOKEN,
    Failure,
    FakeBotAPI,
    RecordingRequest,
    bot_message,
    button_press,
    next_id,
    text_message,
)

GROUP_KEY = f"telegram:{GROUP['id']}"
SUPERGROUP = {"id": SUPERGROUP_ID, "type": "supergroup", "title": "Casey readers"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # python-telegram-bot 22 warns (an error under our pytest settings) whenever it builds a
    # RetryAfter unless time periods are timedeltas; the adapter reads either kind.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def store(services: Services) -> InMemoryStore:
    store = InMemoryStore()
    services.store = store
    return store


@pytest.fixture
def bot(services: Services, store: InMemoryStore) -> BriefingBot:
    """The real bot: briefings, and the subscription commands that need a moderator."""
    return build_bot(services)


@pytest.fixture
def api() -> FakeBotAPI:
    return FakeBotAPI()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def events() -> list[tuple[str, ChatRef, ChatRef | None]]:
    return []


@pytest.fixture
async def adapter(
    bot: BriefingBot,
    api: FakeBotAPI,
    clock: FakeClock,
    sleep: FakeSleep,
    events: list[tuple[str, ChatRef, ChatRef | None]],
) -> AsyncIterator[TelegramAdapter]:
    async def removed(chat: ChatRef) -> None:
        events.append(("removed", chat, None))

    async def moved(old: ChatRef, new: ChatRef) -> None:
        events.append(("moved", old, new))

    adapter = TelegramAdapter(
        bot,
        TOKEN,
        request=RecordingRequest(api),
        on_chat_removed=removed,
        on_chat_moved=moved,
        clock=clock,
        sleep=sleep,
    )
    await adapter.start(receive=False)
    yield adapter
    await adapter.stop()
    assert api.unexpected == [], f"the adapter called unexpected endpoints: {api.unexpected}"


async def feed(adapter: TelegramAdapter, data: dict[str, Any]) -> None:
    update = Update.de_json(data, adapter.application.bot)
    await adapter.application.process_update(update)


def callback_data(call_params: dict[str, Any]) -> list[str]:
    markup = call_params.get("reply_markup") or {"inline_keyboard": []}
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


# Start-up -------------------------------------------------------------------------------


async def test_start_learns_the_bots_name_and_publishes_the_menu(
    adapter: TelegramAdapter, api: FakeBotAPI, services: Services
) -> None:
    assert services.bot_name == BOT_USERNAME
    menus = {c.params["scope"]["type"]: c.params["commands"] for c in api.calls_to("setMyCommands")}
    everyone = [c["command"] for c in menus["default"]]
    admins = [c["command"] for c in menus["all_chat_administrators"]]
    assert {"start", "help", "finding", "recommendation", "search"} <= set(everyone)
    assert "page" not in everyone and "question" not in everyone
    assert "subscribe" not in everyone and "subscribe" in admins
    assert [c["command"] for c in menus["all_private_chats"]] == admins
    for command in menus["all_private_chats"]:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", command["command"])
        assert 3 <= len(command["description"]) <= 256


async def test_start_backs_off_to_once_a_minute_while_telegram_is_down(
    bot: BriefingBot, api: FakeBotAPI, sleep: FakeSleep
) -> None:
    api.fail_next("getMe", NetworkError("connection refused"), times=8)
    adapter = TelegramAdapter(bot, TOKEN, request=RecordingRequest(api), sleep=sleep)
    try:
        await adapter.start(receive=False)
    finally:
        await adapter.stop()
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert len(api.calls_to("getMe")) == 9


async def test_a_refused_token_at_start_is_not_retried(
    bot: BriefingBot, api: FakeBotAPI, sleep: FakeSleep
) -> None:
    api.fail_next("getMe", Failure(401, "Unauthorized"))
    adapter = TelegramAdapter(bot, TOKEN, request=RecordingRequest(api), sleep=sleep)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        await adapter.start(receive=False)
    assert sleep.delays == [] and len(api.calls_to("getMe")) == 1


# Messages in, replies out ---------------------------------------------------------------


async def test_a_command_in_private_gets_an_html_reply_with_buttons(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, text_message("/finding 4"))
    [sent] = api.calls_to("sendMessage")
    assert sent.params["chat_id"] == "42"
    assert sent.params["parse_mode"] == "HTML"
    assert sent.params["text"].startswith("<b>Finding 4 of 8")
    assert "Londoners have been put last" in sent.params["text"]
    assert callback_data(sent.params) == ["/finding 3", "/finding 5"]
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    assert "reply_parameters" not in sent.params


async def test_a_command_addressed_to_this_bot_in_a_group_is_answered_in_reply(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    update = text_message(f"/finding@{BOT_USERNAME} 4", chat=GROUP)
    await feed(adapter, update)
    [sent] = api.calls_to("sendMessage")
    assert sent.params["chat_id"] == str(GROUP["id"])
    assert "Finding 4 of 8" in sent.params["text"]
    assert sent.params["reply_parameters"]["message_id"] == update["message"]["message_id"]


async def test_a_command_for_another_bot_in_a_group_is_left_alone(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, text_message("/finding@SomeOtherBot 4", chat=GROUP))
    assert api.calls_to("sendMessage") == []


async def test_lone_surrogates_are_dropped_and_the_question_answered(
    adapter: TelegramAdapter, api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # Telegram's JSON can carry "\ud800" unpaired; such a str cannot be encoded as UTF-8.
    group = GROUP | {"title": "Casey \udfff readers"}
    sender = ADA | {"first_name": "Ada\udc00"}
    await feed(adapter, text_message("/search \ud800 vetting", chat=group, sender=sender))
    [sent] = api.calls_to("sendMessage")
    assert "“vetting”" in sent.params["text"]
    sent.params["text"].encode("utf-8")  # would raise on a surrogate
    await feed(adapter, text_message("/search \udbff\udbff", chat=group, sender=sender))
    assert api.texts()[-1].startswith("What should I search for?")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_commands_for_other_bots_do_not_use_up_the_groups_flood_allowance(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    for _ in range(50):
        await feed(adapter, text_message("/start@SomeOtherBot", chat=GROUP))
    await feed(adapter, text_message(f"/finding@{BOT_USERNAME} 1", chat=GROUP))
    [text] = api.texts(GROUP["id"])
    assert "Finding 1 of 8" in text


async def test_a_reply_in_a_forum_topic_stays_in_that_topic(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    forum = {"id": -1005555, "type": "supergroup", "title": "Inquiry", "is_forum": True}
    await feed(
        adapter,
        text_message("/finding 2", chat=forum, is_topic_message=True, message_thread_id=77),
    )
    [sent] = api.calls_to("sendMessage")
    assert sent.params["message_thread_id"] == 77


async def test_a_plain_question_is_answered_in_private(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, text_message("what does the review say about vetting?"))
    [text] = api.texts("42")
    assert "vetting" in text.lower()


async def test_group_chatter_is_ignored_but_a_reply_to_the_bot_is_answered(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, text_message("what about vetting?", chat=GROUP))
    someone_else = {**bot_message(GROUP), "from": BEN}
    await feed(adapter, text_message("and vetting?", chat=GROUP, reply_to_message=someone_else))
    assert api.calls_to("sendMessage") == []

    earlier = bot_message(GROUP)
    await feed(adapter, text_message("what about vetting?", chat=GROUP, reply_to_message=earlier))
    [text] = api.texts(GROUP["id"])
    assert "vetting" in text.lower()


async def test_hostile_text_is_escaped_not_interpreted(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, text_message('</b><a href="tg://resolve?domain=x">x</a> & <i>'))
    [sent] = api.calls_to("sendMessage")
    text = sent.params["text"]
    assert "&lt;/b&gt;&lt;a href=" in text and "&amp; &lt;i&gt;" in text
    assert "</b><a" not in text and "<i>”" not in text
    hrefs = re.findall(r'<a href="([^"]*)"', text)
    assert all(href.startswith(("http://", "https://")) for href in hrefs)


# Buttons --------------------------------------------------------------------------------


async def test_a_page_button_edits_the_message_in_place(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, text_message("/recommendations"))
    [first] = api.calls_to("sendMessage")
    assert "Page 1 of 2" in first.params["text"]
    [next_page] = callback_data(first.params)
    shown = bot_message(PRIVATE, "page one")

    await feed(adapter, button_press(next_page, shown))

    assert len(api.calls_to("answerCallbackQuery")) == 1
    [edit] = api.calls_to("editMessageText")
    assert edit.params["message_id"] == shown["message_id"]
    assert "Page 2 of 2" in edit.params["text"]
    assert len(api.calls_to("sendMessage")) == 1


async def test_a_neighbour_button_sends_the_next_finding(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, button_press("/finding 5", bot_message()))
    assert len(api.calls_to("answerCallbackQuery")) == 1
    [text] = api.texts("42")
    assert "Finding 5 of 8" in text


async def test_a_forged_page_button_gets_a_polite_expired_reply(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    await feed(adapter, button_press("/page 99 2", bot_message()))
    assert len(api.calls_to("answerCallbackQuery")) == 1
    assert api.calls_to("editMessageText") == []
    [text] = api.texts("42")
    assert "expired" in text


@pytest.mark.parametrize("data", ["#ffff", "not a command", "#"])
async def test_unknown_callback_data_is_answered_as_expired_and_nothing_else(
    adapter: TelegramAdapter, api: FakeBotAPI, data: str
) -> None:
    await feed(adapter, button_press(data, bot_message()))
    [answer] = api.calls_to("answerCallbackQuery")
    assert answer.params["text"] == EXPIRED
    assert api.calls_to("sendMessage") == []


async def test_a_button_too_old_to_answer_is_no_error(
    adapter: TelegramAdapter, api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_next(
        "answerCallbackQuery",
        Failure(400, "Bad Request: query is too old and response timeout expired"),
    )
    with caplog.at_level(logging.ERROR):
        await feed(adapter, button_press("/finding 2", bot_message()))
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Finding 2 of 8" in api.texts("42")[0]


# Moderators -----------------------------------------------------------------------------


async def test_a_group_member_who_is_not_an_admin_is_refused(
    adapter: TelegramAdapter, api: FakeBotAPI, store: InMemoryStore
) -> None:
    await feed(adapter, text_message("/subscribe", chat=GROUP, sender=BEN))
    [text] = api.texts(GROUP["id"])
    assert "Only this chat's moderators" in text
    assert await store.get_subscription(GROUP_KEY) is None
    [check] = api.calls_to("getChatMember")
    assert (check.params["chat_id"], check.params["user_id"]) == (str(GROUP["id"]), BEN["id"])


async def test_a_group_admin_is_allowed_and_the_answer_is_cached_for_a_minute(
    adapter: TelegramAdapter, api: FakeBotAPI, clock: FakeClock, store: InMemoryStore
) -> None:
    api.set_member(GROUP["id"], BEN["id"], "administrator")
    await feed(adapter, text_message("/subscribe daily 07:30", chat=GROUP, sender=BEN))
    await feed(adapter, text_message("/pause", chat=GROUP, sender=BEN))
    first, second = api.texts(GROUP["id"])
    assert first.startswith("Subscribed: a digest daily at 07:30")
    assert "Only this chat's moderators" not in second
    subscription = await store.get_subscription(GROUP_KEY)
    assert subscription is not None and subscription.paused
    assert len(api.calls_to("getChatMember")) == 1

    api.set_member(GROUP["id"], BEN["id"], "member")  # demoted
    clock.now += 61
    await feed(adapter, text_message("/resume", chat=GROUP, sender=BEN))
    assert "Only this chat's moderators" in api.texts(GROUP["id"])[-1]
    assert len(api.calls_to("getChatMember")) == 2
    subscription = await store.get_subscription(GROUP_KEY)
    assert subscription is not None and subscription.paused


async def test_the_groups_creator_is_allowed(
    adapter: TelegramAdapter, api: FakeBotAPI, store: InMemoryStore
) -> None:
    api.set_member(GROUP["id"], ADA["id"], "creator")
    await feed(adapter, text_message("/subscribe", chat=GROUP))
    assert api.texts(GROUP["id"])[0].startswith("Subscribed")
    assert await store.get_subscription(GROUP_KEY) is not None


async def test_an_anonymous_group_admin_is_allowed(
    adapter: TelegramAdapter, api: FakeBotAPI, store: InMemoryStore
) -> None:
    await feed(
        adapter,
        text_message("/subscribe", chat=GROUP, sender=ANONYMOUS_ADMIN_BOT, sender_chat=GROUP),
    )
    assert api.texts(GROUP["id"])[0].startswith("Subscribed")
    assert api.calls_to("getChatMember") == []
    assert await store.get_subscription(GROUP_KEY) is not None


async def test_posting_as_a_linked_channel_is_not_admin(
    adapter: TelegramAdapter, api: FakeBotAPI, store: InMemoryStore
) -> None:
    channel = {"id": -1009999, "type": "channel", "title": "A channel"}
    await feed(adapter, text_message("/subscribe", chat=GROUP, sender=BEN, sender_chat=channel))
    assert "Only this chat's moderators" in api.texts(GROUP["id"])[0]
    assert await store.get_subscription(GROUP_KEY) is None


async def test_in_a_private_chat_the_user_moderates(
    adapter: TelegramAdapter, api: FakeBotAPI, store: InMemoryStore
) -> None:
    await feed(adapter, text_message("/subscribe weekly mon 09:00"))
    assert api.texts("42")[0].startswith("Subscribed: a digest")
    assert api.calls_to("getChatMember") == []
    assert await store.get_subscription("telegram:42") is not None


# Membership and migration ---------------------------------------------------------------


def membership(chat: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    def member(status: str) -> dict[str, Any]:
        return {"status": status, "user": BOT_USER} | (
            {"until_date": 0} if status == "kicked" else {}
        )

    return {
        "update_id": next_id(),
        "my_chat_member": {
            "chat": chat,
            "from": BEN,
            "date": 1_700_000_000,
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        },
    }


def service_message(chat: dict[str, Any], **fields: Any) -> dict[str, Any]:
    message = {"message_id": next_id(), "date": 1_700_000_000, "chat": chat, "from": BEN}
    return {"update_id": next_id(), "message": message | fields}


def migrated_to(new_id: int) -> dict[str, Any]:
    """What the old group's members see: 'The group was upgraded to a supergroup'."""
    return service_message(GROUP, migrate_to_chat_id=new_id)


def migrated_from(old_id: int) -> dict[str, Any]:
    return service_message(SUPERGROUP, migrate_from_chat_id=old_id)


@pytest.mark.parametrize(
    ("chat", "status"), [(GROUP, "left"), (GROUP, "kicked"), (PRIVATE, "kicked")]
)
async def test_the_bot_removed_or_blocked_reports_the_chat_gone(
    adapter: TelegramAdapter,
    events: list[tuple[str, ChatRef, ChatRef | None]],
    chat: dict[str, Any],
    status: str,
) -> None:
    await feed(adapter, membership(chat, "member", status))
    [(event, gone, _)] = events
    assert event == "removed"
    assert gone.key == f"telegram:{chat['id']}"


async def test_the_bot_added_to_a_group_is_not_a_removal(
    adapter: TelegramAdapter, events: list[tuple[str, ChatRef, ChatRef | None]]
) -> None:
    await feed(adapter, membership(GROUP, "left", "member"))
    assert events == []


async def test_a_group_upgraded_to_a_supergroup_moves_the_chat(
    adapter: TelegramAdapter, events: list[tuple[str, ChatRef, ChatRef | None]]
) -> None:
    await feed(adapter, migrated_to(SUPERGROUP_ID))
    await feed(adapter, migrated_from(GROUP["id"]))
    [(event, old, new)] = events
    assert event == "moved"
    assert old.key == "telegram:-4001"
    assert new is not None and new.key == f"telegram:{SUPERGROUP_ID}" and new.kind == ChatKind.GROUP


async def test_a_subscription_survives_the_upgrade_to_a_supergroup(
    bot: BriefingBot, api: FakeBotAPI, store: InMemoryStore
) -> None:
    async def moved(old: ChatRef, new: ChatRef) -> None:
        await store.move_chat(old.key, new)

    async def removed(chat: ChatRef) -> None:
        await store.deactivate_chat(chat.key, "the bot was removed")

    adapter = TelegramAdapter(
        bot, TOKEN, request=RecordingRequest(api), on_chat_moved=moved, on_chat_removed=removed
    )
    await adapter.start(receive=False)
    try:
        api.set_member(GROUP["id"], ADA["id"], "creator")
        await feed(adapter, text_message("/subscribe daily 07:30", chat=GROUP))
        await feed(adapter, migrated_to(SUPERGROUP_ID))
        await feed(adapter, migrated_from(GROUP["id"]))
        # Telegram also tells the bot it "left" the old group; that must not undo the move.
        await feed(adapter, membership(GROUP, "member", "left"))
        await feed(adapter, text_message("/subscriptions", chat=SUPERGROUP, sender=BEN))
    finally:
        await adapter.stop()
    [listing] = api.texts(SUPERGROUP_ID)
    assert "Daily at 07:30" in listing
    moved_sub = await store.get_subscription(f"telegram:{SUPERGROUP_ID}")
    assert moved_sub is not None and moved_sub.schedule == parse_schedule("daily 07:30")
    assert await store.get_subscription(GROUP_KEY) is None
    settings = await store.get_chat(f"telegram:{SUPERGROUP_ID}")
    assert settings is not None and settings.active


async def test_the_bot_removed_from_a_group_stops_its_digest(
    bot: BriefingBot, api: FakeBotAPI, store: InMemoryStore
) -> None:
    async def removed(chat: ChatRef) -> None:
        await store.deactivate_chat(chat.key, "the bot was removed")

    adapter = TelegramAdapter(bot, TOKEN, request=RecordingRequest(api), on_chat_removed=removed)
    await adapter.start(receive=False)
    try:
        api.set_member(GROUP["id"], ADA["id"], "creator")
        await feed(adapter, text_message("/subscribe", chat=GROUP))
        await feed(adapter, membership(GROUP, "member", "kicked"))
    finally:
        await adapter.stop()
    subscription = await store.get_subscription(GROUP_KEY)
    assert subscription is not None and not subscription.active


# Delivery outcomes (what the scheduler sees) --------------------------------------------

DIGEST = text_reply("Your daily briefing.", "Finding 1: …")


async def test_a_delivered_digest(adapter: TelegramAdapter, api: FakeBotAPI) -> None:
    outcome = await adapter.sender.send("42", DIGEST)
    assert outcome.status is DeliveryStatus.DELIVERED
    assert api.texts("42") == ["Your daily briefing.\n\nFinding 1: …"]


async def test_blocked_by_the_user_is_gone(adapter: TelegramAdapter, api: FakeBotAPI) -> None:
    api.fail_next("sendMessage", Failure(403, "Forbidden: bot was blocked by the user"))
    outcome = await adapter.sender.send("42", DIGEST)
    assert outcome.status is DeliveryStatus.GONE
    assert "blocked" in outcome.reason


async def test_a_deleted_chat_is_gone(adapter: TelegramAdapter, api: FakeBotAPI) -> None:
    api.fail_next("sendMessage", Failure(400, "Bad Request: chat not found"))
    outcome = await adapter.sender.send("-4001", DIGEST)
    assert outcome.status is DeliveryStatus.GONE


async def test_a_migrated_group_is_moved_with_its_new_id(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    api.fail_next(
        "sendMessage",
        Failure(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": SUPERGROUP_ID},
        ),
    )
    outcome = await adapter.sender.send("-4001", DIGEST)
    assert outcome.status is DeliveryStatus.MOVED
    assert outcome.new_chat_id == str(SUPERGROUP_ID)


async def test_rate_limited_is_retry_after_as_told_without_waiting_here(
    adapter: TelegramAdapter, api: FakeBotAPI, sleep: FakeSleep
) -> None:
    api.fail_next(
        "sendMessage", Failure(429, "Too Many Requests: retry after 7", {"retry_after": 7})
    )
    outcome = await adapter.sender.send("42", DIGEST)
    assert outcome.status is DeliveryStatus.RETRY
    assert outcome.retry_after == 7.0
    assert sleep.delays == []


async def test_a_rate_limit_is_no_error_in_the_log(
    adapter: TelegramAdapter, api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    too_many = Failure(429, "Too Many Requests: retry after 7", {"retry_after": 7})
    api.fail_next("sendMessage", too_many)
    with caplog.at_level(logging.DEBUG):
        assert (await adapter.sender.send("42", DIGEST)).status is DeliveryStatus.RETRY
        api.fail_next("sendMessage", too_many)
        await feed(adapter, text_message("/finding 4"))
    # Handled by waiting (the scheduler's, or the answer's own): a WARNING at most.
    assert [r for r in caplog.records if r.levelno > logging.WARNING] == []
    assert [r for r in caplog.records if r.exc_info] == []
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "Retry in 0:00:07" in warning.getMessage() and "\n" not in warning.getMessage()


async def test_an_answer_waits_out_a_rate_limit_and_still_arrives(
    adapter: TelegramAdapter, api: FakeBotAPI, sleep: FakeSleep
) -> None:
    too_many = Failure(429, "Too Many Requests: retry after 3", {"retry_after": 3})
    api.fail_next("sendMessage", too_many, times=2)
    await feed(adapter, text_message("/finding 4"))
    assert sleep.delays == [3.0, 3.0]  # in this message's handler, not the scheduler's
    tries = api.texts("42")  # every call, the two refused ones too
    assert len(tries) == 3 and tries[-1].startswith("<b>Finding 4 of 8")
    # A third refusal in a row, or a wait over a minute, gives the answer up: no endless wait.
    api.fail_next("sendMessage", too_many, times=3)
    await feed(adapter, text_message("/finding 5"))
    assert len(api.texts("42")) == 6 and sleep.delays == [3.0] * 4
    api.fail_next("sendMessage", Failure(429, "retry after 600", {"retry_after": 600}))
    await feed(adapter, text_message("/finding 6"))
    assert len(api.texts("42")) == 7 and sleep.delays == [3.0] * 4


async def test_a_timeout_is_retried_once_after_a_short_wait(
    adapter: TelegramAdapter, api: FakeBotAPI, sleep: FakeSleep
) -> None:
    api.fail_next("sendMessage", TimedOut())
    outcome = await adapter.sender.send("42", DIGEST)
    assert outcome.status is DeliveryStatus.DELIVERED
    assert sleep.delays == [0.5]
    assert len(api.calls_to("sendMessage")) == 2


async def test_a_network_that_stays_down_is_left_to_the_schedulers_backoff(
    adapter: TelegramAdapter, api: FakeBotAPI, sleep: FakeSleep
) -> None:
    api.fail_next("sendMessage", NetworkError("connection reset"), times=5)
    outcome = await adapter.sender.send("42", DIGEST)
    assert outcome.status is DeliveryStatus.RETRY
    assert "2 attempts" in outcome.reason and "connection reset" in outcome.reason
    # Not a rate limit: the scheduler must not hold every Telegram send for it.
    assert outcome.retry_after is None
    assert len(api.calls_to("sendMessage")) == 2


async def test_unparseable_html_is_resent_once_as_plain_text_and_logged(
    adapter: TelegramAdapter, api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_next(
        "sendMessage",
        Failure(400, "Bad Request: can't parse entities: unsupported start tag at byte offset 3"),
    )
    reply = Reply(lines=(((Span("Tom & Jerry", bold=True)),),))
    with caplog.at_level(logging.WARNING):
        outcome = await adapter.sender.send("42", reply)
    assert outcome.status is DeliveryStatus.DELIVERED
    first, second = api.calls_to("sendMessage")
    assert first.params["text"] == "<b>Tom &amp; Jerry</b>"
    assert second.params["text"] == "Tom & Jerry"
    assert "parse_mode" not in second.params
    assert any("plain text" in r.getMessage() for r in caplog.records)


async def test_other_refusals_fail_with_the_reason(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    api.fail_next("sendMessage", Failure(400, "Bad Request: not enough rights to send text"))
    outcome = await adapter.sender.send("-4001", DIGEST)
    assert outcome.status is DeliveryStatus.FAILED
    assert "not enough rights" in outcome.reason.lower()


async def test_a_long_digest_arrives_in_order_with_buttons_on_the_last_part(
    adapter: TelegramAdapter, api: FakeBotAPI
) -> None:
    paragraphs = [f"Paragraph {n}: " + "word " * 150 for n in range(30)]
    reply = text_reply(*paragraphs)
    reply = Reply(lines=reply.lines, buttons=((Button("More", "/more"),),))
    outcome = await adapter.sender.send("42", reply)
    assert outcome.status is DeliveryStatus.DELIVERED
    sent = api.calls_to("sendMessage")
    assert len(sent) > 1
    assert [callback_data(c.params) for c in sent] == [[]] * (len(sent) - 1) + [["/more"]]
    assert all(utf16_len(c.params["text"]) <= MESSAGE_LIMIT for c in sent)
    numbers = [int(n) for c in sent for n in re.findall(r"Paragraph (\d+)", c.params["text"])]
    assert numbers == list(range(30))


# Flood limit ----------------------------------------------------------------------------


async def test_a_flooding_chat_gets_one_notice_then_silence_and_others_are_unaffected(
    adapter: TelegramAdapter, api: FakeBotAPI, clock: FakeClock
) -> None:
    for _ in range(300):
        await feed(adapter, text_message("/help"))
    replies = api.texts("42")
    assert replies.count(FLOOD_NOTICE) == 1
    assert len(replies) == adapter.flood.burst + 1

    await feed(adapter, text_message("/help", chat=PRIVATE_BEN, sender=BEN))
    assert len(api.texts("43")) == 1

    clock.now += 5  # still flooding after a pause of seconds: still silent
    await feed(adapter, text_message("/help"))
    assert len(api.texts("42")) == len(replies)

    clock.now += 60  # calm at last
    await feed(adapter, text_message("/help"))
    assert len(api.texts("42")) == len(replies) + 1
    assert api.texts("42")[-1] != FLOOD_NOTICE


async def test_the_bots_own_id_is_known_after_start(adapter: TelegramAdapter) -> None:
    assert adapter.application.bot.id == BOT_ID


async def test_one_slow_chat_holds_up_no_other(services: Services, api: FakeBotAPI) -> None:
    release = asyncio.Event()

    async def slow(ctx: Context, args: str) -> Reply:
        await release.wait()
        return text_reply("Slow answer.")

    table = build_table([Command("slow", "A slow answer", "/slow", slow)])
    adapter = TelegramAdapter(BriefingBot(services, table), TOKEN, request=RecordingRequest(api))
    await adapter.start(receive=False)
    try:
        # Through the update queue, as polling and the webhook deliver them.
        queue = adapter.application.update_queue
        await queue.put(Update.de_json(text_message("/slow"), adapter.application.bot))
        other = text_message("/finding 1", chat=PRIVATE_BEN, sender=BEN)
        await queue.put(Update.de_json(other, adapter.application.bot))
        await api.wait_until(lambda: len(api.texts(BEN["id"])) == 1)
        assert api.texts(ADA["id"]) == []
        release.set()
        await api.wait_until(lambda: api.texts(ADA["id"]) == ["Slow answer."])
    finally:
        release.set()
        await adapter.stop()


async def test_a_409_conflict_while_polling_says_another_process_is_polling(
    bot: BriefingBot, api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.telegram_standin import Failure

    api.fail_next(
        "getUpdates",
        Failure(409, "Conflict: terminated by other getUpdates request; make sure that only "
                "one bot instance is running"),
    )  # fmt: skip
    adapter = TelegramAdapter(bot, TOKEN, request=RecordingRequest(api))
    await adapter.start()
    try:
        await api.wait_until(lambda: api.counts["getUpdates"] >= 1)
        for _ in range(1_000):  # until the polling task has handled the answer
            if "409 Conflict" in caplog.text:
                break
            await asyncio.sleep(0)
    finally:
        await adapter.stop()
    assert "another process is long-polling the same bot" in caplog.text
    assert "TELEGRAM_WEBHOOK_URL" in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
