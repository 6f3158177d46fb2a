"""The digest commands as a chat meets them: clear answers, and nothing stored wrong."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.storage.sqlite import SqliteStore
from bot.briefing_commands import build_table
from bot.commands import Command, Context
from bot.core import BriefingBot
from bot.digests import schedule
from bot.digests.schedule import configured_timezone, daily, weekly
from bot.errors import ConfigError, UserInputError
from bot.messages import ChatKind, ChatRef, IncomingMessage, Reply, SenderRef, text_reply
from bot.services import Services
from bot.store import InMemoryStore, Store
from bot.subscription_commands import MAX_ALERTS, subscription_commands

NOW = datetime(2024, 5, 14, 10, 0, tzinfo=UTC)  # Tuesday, 11:00 in London
GROUP = ChatRef("telegram", "-500", ChatKind.GROUP, "Reading group")
ADMIN = SenderRef("1", "Ann Admin")
MEMBER = SenderRef("2", "Max Member")


@dataclass
class FixedClock:
    moment: datetime = NOW

    def now(self) -> datetime:
        return self.moment


@dataclass
class Admins:
    """Group admins by sender id; everyone runs their own private chat."""

    ids: frozenset[str] = frozenset({ADMIN.id})

    async def is_moderator(self, chat: ChatRef, sender: SenderRef) -> bool:
        return chat.kind is ChatKind.PRIVATE or sender.id in self.ids


@dataclass
class Room:
    services: Services
    chat: ChatRef = GROUP

    async def say(self, text: str, sender: SenderRef = ADMIN, button: bool = False) -> Reply:
        """Run one command's handler as the router would; a UserInputError is the reply."""
        name, _, args = text.removeprefix("/").partition(" ")
        commands = {n: c for c in subscription_commands() for n in (c.name, *c.aliases)}
        command: Command = commands[name]
        message = IncomingMessage(self.chat, sender, text, from_button=button)
        try:
            return await command.handler(Context(message, self.services, name), args)
        except UserInputError as err:
            return text_reply(str(err))

    async def text(self, text: str, sender: SenderRef = ADMIN) -> str:
        return (await self.say(text, sender)).plain

    @property
    def store(self) -> Store:
        assert self.services.store is not None
        return self.services.store


@pytest.fixture(params=["memory", "sqlite"])
async def room(
    request: pytest.FixtureRequest, services: Services, tmp_path: Path
) -> AsyncIterator[Room]:
    store: Store = (
        InMemoryStore() if request.param == "memory" else await SqliteStore.open(tmp_path / "db")
    )
    wired = dataclasses.replace(
        services,
        store=store,
        clock=FixedClock(),
        moderators=Admins(),
        default_timezone="Europe/London",
    )
    try:
        yield Room(wired)
    finally:
        await store.close()


# -- subscribing ----------------------------------------------------------------------------


async def test_subscribe_alone_means_daily_at_eight_local_time(room: Room) -> None:
    reply = await room.text("/subscribe")
    assert "daily at 08:00, Europe/London time" in reply
    assert "Wednesday 15 May 2024 at 08:00 BST" in reply
    sub = await room.store.get_subscription(GROUP.key)
    assert sub is not None and sub.schedule == daily(8, 0) and sub.timezone == "Europe/London"


async def test_subscribe_daily_and_weekly_at_a_time(room: Room) -> None:
    assert "today" not in await room.text("/subscribe daily 07:30")
    sub = await room.store.get_subscription(GROUP.key)
    assert sub is not None and sub.schedule == daily(7, 30)
    reply = await room.text("/subscribe weekly mon 09:00")
    assert reply.startswith("Changed: a digest weekly on Monday at 09:00")
    assert "Monday 20 May 2024 at 09:00 BST" in reply
    changed = await room.store.get_subscription(GROUP.key)
    assert changed is not None and changed.schedule == weekly(0, 9, 0) and changed.id == sub.id


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        ("weekly funday 09:00", '"funday" is not a weekday I know'),
        ("weekly someday", '"someday" is not a weekday I know'),
        ("daily 25:00", "hours run from 00 to 23"),
        ("daily 07:75", "minutes run from 00 to 59"),
        ("daily 7.30pm", "type 19:30"),
        ("7am", "type 07:00"),
        ("daily 7.30", "type 07:30"),
        ("hourly", 'I don\'t know how often "hourly" is'),
        ("daily 07:30 09:00", "needs just one time"),
    ],
)
async def test_bad_schedules_are_explained_and_nothing_changes(
    room: Room, args: str, answer: str
) -> None:
    await room.say("/subscribe daily 06:45")
    before = await room.store.get_subscription(GROUP.key)
    assert answer in await room.text(f"/subscribe {args}")
    assert await room.store.get_subscription(GROUP.key) == before


async def test_a_new_chat_starts_in_the_configured_zone(room: Room) -> None:
    room.services.default_timezone = "America/New_York"
    reply = await room.text("/subscribe")
    assert "America/New_York time" in reply and "08:00 EDT" in reply


# -- time zones -----------------------------------------------------------------------------


async def test_timezone_names_in_any_case(room: Room) -> None:
    await room.say("/subscribe daily 07:00")
    reply = await room.text("/timezone pacific/auckland")
    assert reply.startswith("Time zone set to Pacific/Auckland: it is 22:00 NZST")
    assert "Wednesday 15 May 2024 at 07:00 NZST" in reply
    sub = await room.store.get_subscription(GROUP.key)
    assert sub is not None and sub.timezone == "Pacific/Auckland"


async def test_a_misspelt_zone_gets_suggestions_and_changes_nothing(room: Room) -> None:
    await room.say("/timezone Asia/Tokyo")
    reply = await room.text("/timezone Europe/Londn")
    assert '"Europe/Londn" is not a time zone I know' in reply
    assert "Did you mean Europe/London" in reply
    assert "Did you mean America/New_York" in await room.text("/timezone New Yrok")
    made_up = await room.text("/timezone Mars/Olympus_Mons")
    assert "is not a time zone I know" in made_up and "Did you mean" not in made_up
    chat = await room.store.get_chat(GROUP.key)
    assert chat is not None and chat.timezone == "Asia/Tokyo"


@pytest.mark.parametrize(
    "name",
    [
        "localtime",
        "LocalTime",
        "posixrules",
        "Factory",
        "/etc/localtime",
        "../../../etc/localtime",
        "posix/Europe/London",
        "right/UTC",
    ],
)
async def test_files_in_the_zone_folder_that_name_no_place_are_refused(
    room: Room, name: str
) -> None:
    await room.say("/timezone Asia/Tokyo")
    reply = await room.text(f"/timezone {name}")
    assert f'"{name}" is not a time zone I know' in reply
    assert "Use an IANA name such as Europe/London" in reply
    chat = await room.store.get_chat(GROUP.key)
    assert chat is not None and chat.timezone == "Asia/Tokyo"


def test_an_operator_default_zone_that_names_no_place_stops_start_up() -> None:
    with pytest.raises(ConfigError, match='INQUIRY_BOT_TIMEZONE: "localtime" is not a time zone'):
        configured_timezone("localtime")
    assert configured_timezone("utc") == "UTC"


def test_a_zone_spelt_right_is_checked_without_listing_every_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Listing the installed tz database costs tens of milliseconds of every start-up.
    listed: list[bool] = []
    monkeypatch.setattr(schedule, "available_timezones", lambda: listed.append(True) or set())
    schedule._zone_names.cache_clear()
    try:
        assert configured_timezone("Europe/London") == "Europe/London"
        assert configured_timezone("America/Argentina/Buenos_Aires").endswith("Buenos_Aires")
        assert not listed
    finally:
        schedule._zone_names.cache_clear()


async def test_timezone_alone_says_what_it_is(room: Room) -> None:
    reply = await room.text("/timezone")
    assert "This chat's time zone is Europe/London (it is 11:00 BST" in reply
    assert await room.store.get_chat(GROUP.key) is None  # asking stores nothing


# -- what the chat gets ---------------------------------------------------------------------


async def test_subscriptions_shows_schedule_next_time_and_alerts(room: Room) -> None:
    assert "No digest. /subscribe starts one" in await room.text("/subscriptions")
    await room.say("/subscribe weekly fri 18:00")
    await room.say("/alert add vetting")
    reply = await room.text("/subscriptions", MEMBER)  # anyone may look
    assert "Weekly on Friday at 18:00, Europe/London time." in reply
    assert "Next: Friday 17 May 2024 at 18:00 BST." in reply
    assert "1. vetting" in reply


async def test_a_chat_the_bot_can_no_longer_post_in_is_told_so_and_how_to_restart(
    room: Room,
) -> None:
    await room.say("/subscribe weekly thu 09:00")
    await room.store.deactivate_chat(GROUP.key, "missing access (50001)")
    shown = await room.text("/subscriptions", MEMBER)
    assert "Stopped: no digests are being sent" in shown
    assert "could no longer post in this chat (missing access (50001))" in shown
    assert "It was weekly on Thursday at 09:00, Europe/London time." in shown
    assert "/resume restarts it" in shown
    assert "Next:" not in shown and "Thursday 16 May" not in shown  # no delivery is coming
    assert "next digest" not in await room.text("/timezone Europe/Paris")
    room.services.clock = FixedClock(datetime(2024, 5, 17, 12, 0, tzinfo=UTC))
    restarted = await room.text("/resume")
    assert restarted.startswith("Restarted: a digest weekly on Thursday at 09:00")
    assert "The next one comes Thursday 23 May 2024 at 09:00 CEST." in restarted
    sub = await room.store.get_subscription(GROUP.key)
    assert sub is not None and sub.active and sub.schedule == weekly(3, 9, 0)
    assert "Next: Thursday 23 May 2024" in await room.text("/subscriptions")


async def test_subscribing_again_after_deliveries_stopped_says_they_restart(room: Room) -> None:
    await room.say("/subscribe")
    await room.store.deactivate_chat(GROUP.key, "Forbidden: bot was kicked from the group chat")
    reply = await room.text("/subscribe")
    assert reply.startswith("Restarted: a digest daily at 08:00")
    assert "already gets" not in reply


async def test_pause_and_resume(room: Room) -> None:
    await room.say("/subscribe")
    assert (await room.text("/pause")).startswith("Paused")
    assert "already paused" in await room.text("/pause")
    assert "Paused (it was daily at 08:00)" in await room.text("/subscriptions")
    room.services.clock = FixedClock(datetime(2024, 5, 16, 12, 0, tzinfo=UTC))
    reply = await room.text("/resume")
    assert reply == "Resumed: the next digest comes Friday 17 May 2024 at 08:00 BST."
    sub = await room.store.get_subscription(GROUP.key)
    assert sub is not None and not sub.paused


async def test_resume_with_nothing_paused_says_so_and_changes_nothing(room: Room) -> None:
    assert "Nothing to resume: this chat has no digest" in await room.text("/resume")
    assert await room.store.get_subscription(GROUP.key) is None
    await room.say("/subscribe")
    before = await room.store.get_subscription(GROUP.key)
    reply = await room.text("/resume")
    assert reply.startswith("Nothing is paused: this chat's digest (daily at 08:00) is running")
    assert await room.store.get_subscription(GROUP.key) == before


async def test_unsubscribe(room: Room) -> None:
    assert "no digest to stop" in await room.text("/unsubscribe")
    await room.say("/subscribe")
    await room.say("/alert add vetting")
    reply = await room.text("/unsubscribe")
    assert reply.startswith("Unsubscribed") and "1 alert and time zone are kept" in reply
    assert await room.store.get_subscription(GROUP.key) is None


async def test_digest_preview_moves_nothing_on(room: Room) -> None:
    await room.say("/subscribe")
    first = await room.say("/digest", MEMBER)
    again = await room.say("/digest", MEMBER)
    assert first == again
    assert "Finding 1 of 8" in first.plain and "Recommendation 1 of 16" in first.plain
    assert [b.payload for row in first.buttons for b in row] == ["/finding 1", "/recommendation 1"]
    assert first.citations and first.citations[0].source
    sub = await room.store.get_subscription(GROUP.key)
    assert sub is not None and (sub.finding_cursor, sub.recommendation_cursor) == (0, 0)
    assert await room.store.list_outbox() == []


async def test_digest_preview_without_a_subscription(room: Room) -> None:
    assert "Finding 1 of 8" in await room.text("/digest")


# -- alerts ---------------------------------------------------------------------------------


async def test_alerts_add_list_remove(room: Room) -> None:
    assert "no alerts" in await room.text("/alert list")
    assert (await room.text("/alert add vetting")).startswith("Alert 1 added: “vetting”")
    await room.say("/alert add stop  and   search")
    listing = await room.text("/alert")
    assert "1. vetting" in listing and "2. stop and search" in listing
    assert await room.text("/alert remove 1") == "Removed the alert “vetting”."
    assert [a.words for a in await room.store.list_alerts(GROUP.key)] == ["stop and search"]


async def test_a_thousand_alert_words_are_refused(room: Room) -> None:
    words = " ".join(f"word{i}" for i in range(1000))
    reply = await room.text(f"/alert add {words}")
    assert "at most 10 words; that one has 1,000" in reply
    assert await room.store.list_alerts(GROUP.key) == []


async def test_sql_and_markup_in_alerts_are_kept_verbatim_and_shown_as_text(room: Room) -> None:
    nasty = '\'; DROP TABLE alerts; -- <b>vetting</b> & <a href="javascript:x">x</a>'
    await room.say(f"/alert add {nasty}")
    assert [a.words for a in await room.store.list_alerts(GROUP.key)] == [nasty]
    listing = await room.say("/alert list")
    [line] = [line for line in listing.lines if "DROP" in "".join(s.text for s in line)]
    assert "".join(s.text for s in line) == f"1. {nasty}"
    assert not any(s.bold or s.link for s in line)  # markup stays text
    assert f"1. {nasty}" in await room.text("/subscriptions")


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/alert add", "Which words should I watch for?"),
        ("/alert add the and of", "no words I can look for"),
        ("/alert add " + "x" * 201, "at most 200 characters"),
        ("/alert remove", "This chat has no alerts to remove."),
        ("/alert vetting", "send /alert add vetting"),
    ],
)
async def test_bad_alerts_are_explained(room: Room, command: str, answer: str) -> None:
    assert answer in await room.text(command)
    assert await room.store.list_alerts(GROUP.key) == []


async def test_removing_an_alert_that_is_not_there(room: Room) -> None:
    await room.say("/alert add vetting")
    assert "There is no alert 3: this chat has 1 (1)" in await room.text("/alert remove 3")
    assert "Send /alert remove N" in await room.text("/alert remove vetting")
    assert len(await room.store.list_alerts(GROUP.key)) == 1


async def test_alerts_are_capped_and_not_doubled(room: Room) -> None:
    for i in range(MAX_ALERTS):
        await room.say(f"/alert add subject{i}")
    assert "already has that alert (number 1)" in await room.text("/alert add SUBJECT0")
    assert f"has {MAX_ALERTS} alerts, the most" in await room.text("/alert add one more")
    assert len(await room.store.list_alerts(GROUP.key)) == MAX_ALERTS


# -- who may change what --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "/subscribe",
        "/timezone Asia/Tokyo",
        "/pause",
        "/resume",
        "/unsubscribe",
        "/alert add vetting",
        "/alert remove 1",
        "/forget",
        "/forget confirm",
    ],
)
async def test_only_moderators_change_a_group_s_settings(room: Room, command: str) -> None:
    await room.say("/subscribe daily 06:00")
    await room.say("/alert add misconduct")
    sub, alerts = (
        await room.store.get_subscription(GROUP.key),
        await room.store.list_alerts(GROUP.key),
    )
    reply = await room.text(command, MEMBER)
    assert reply.startswith("Only this chat's moderators (its admins) can")
    assert await room.store.get_subscription(GROUP.key) == sub
    assert await room.store.list_alerts(GROUP.key) == alerts


async def test_in_a_private_chat_the_user_decides(room: Room) -> None:
    room.chat = ChatRef("telegram", "2", ChatKind.PRIVATE)
    assert (await room.text("/subscribe", MEMBER)).startswith("Subscribed")


# -- forgetting -----------------------------------------------------------------------------


async def test_forget_asks_first_then_deletes_everything(room: Room) -> None:
    await room.say("/subscribe")
    await room.say("/alert add vetting")
    ask = await room.say("/forget")
    assert "deletes everything stored for this chat" in ask.plain
    assert [b.payload for row in ask.buttons for b in row] == ["/forget confirm"]
    assert await room.store.get_subscription(GROUP.key) is not None  # not yet
    assert "send /forget confirm" in await room.text("/forget please")
    done = await room.say("/forget confirm", button=True)
    assert done.plain.startswith("Done: everything stored for this chat is deleted")
    assert await room.store.get_chat(GROUP.key) is None
    assert await room.store.get_subscription(GROUP.key) is None
    assert await room.store.list_alerts(GROUP.key) == []
    assert "Nothing was stored" in await room.text("/forget confirm")


# -- without a database, and through the router ---------------------------------------------


async def test_without_a_database_the_answer_says_so(services: Services) -> None:
    room = Room(dataclasses.replace(services, store=None, moderators=Admins()))
    assert "Subscriptions need a database" in await room.text("/subscribe")


async def test_the_commands_fit_the_bot_s_table(services: Services) -> None:
    store = InMemoryStore()
    wired = dataclasses.replace(services, store=store, clock=FixedClock(), moderators=Admins())
    bot = BriefingBot(wired, build_table(subscription_commands()))
    reply = await bot.handle(IncomingMessage(GROUP, ADMIN, "/subscribe weekly tue 07:15"))
    assert reply is not None and "weekly on Tuesday at 07:15" in reply.plain
    reply = await bot.handle(IncomingMessage(GROUP, ADMIN, "/alerts"))
    assert reply is not None and "no alerts" in reply.plain
    help_reply = await bot.handle(IncomingMessage(GROUP, ADMIN, "/help"))
    assert help_reply is not None and "/subscribe" in help_reply.plain
