"""One contract, three stores: what the core may rely on, checked on memory, SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.digests.schedule import daily, weekly
from bot.messages import Button, ChatKind, ChatRef, Citation, Reply, Span
from bot.store import (
    DocumentRecord,
    OutboxStatus,
    PlannedDigest,
    Settlement,
    Store,
    text_hash,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ALICE = ChatRef("telegram", "100", ChatKind.PRIVATE, "Alice")
GROUP = ChatRef("telegram", "-200", ChatKind.GROUP, "Reading group")
CONSOLE = ChatRef("console", "local")


def reply(text: str) -> Reply:
    return Reply(lines=((Span(text),),))


def planned(
    sub_id: int,
    chat: ChatRef,
    scheduled: datetime,
    cursors: tuple[int, int] = (1, 1),
    body: Reply | None = None,
) -> PlannedDigest:
    return PlannedDigest(
        subscription_id=sub_id,
        scheduled=scheduled,
        chat_key=chat.key,
        platform=chat.platform,
        chat_id=chat.id,
        reply=body or reply(f"digest for {chat.key} at {scheduled:%H:%M}"),
        finding_cursor=cursors[0],
        recommendation_cursor=cursors[1],
        planned_at=scheduled,
    )


def document(doc_id: str, text: str, added_at: datetime) -> DocumentRecord:
    return DocumentRecord(
        id=doc_id,
        title=f"Title {doc_id}",
        added_at=added_at,
        text_hash=text_hash(text),
        text=text,
        outlet="The Outlet",
        date="2024-03-01",
        url="https://example.org/a",
    )


# -- chats ----------------------------------------------------------------------------------


async def test_a_new_chat_starts_in_the_given_zone_and_keeps_its_own_after(store: Store) -> None:
    first = await store.ensure_chat(ALICE, "Europe/London", T0)
    again = await store.ensure_chat(ALICE, "Asia/Tokyo", T0 + timedelta(hours=1))
    assert first.timezone == again.timezone == "Europe/London"
    assert (again.platform, again.chat_id, again.kind, again.title) == (
        "telegram",
        "100",
        ChatKind.PRIVATE,
        "Alice",
    )
    assert again.created_at == T0 and again.created_at.tzinfo is not None


async def test_unknown_chat_has_nothing(store: Store) -> None:
    assert await store.get_chat("telegram:nobody") is None
    assert await store.get_subscription("telegram:nobody") is None
    assert await store.list_alerts("telegram:nobody") == []
    assert await store.forget_chat("telegram:nobody") is False
    assert await store.move_chat("telegram:nobody", GROUP) is False


async def test_time_zone_change_reaches_the_subscription(store: Store) -> None:
    await store.subscribe(ALICE, daily(7, 30), "Europe/London", T0)
    await store.set_timezone(ALICE, "Pacific/Auckland", T0)
    sub = await store.get_subscription(ALICE.key)
    assert sub is not None and sub.timezone == "Pacific/Auckland"
    chat = await store.get_chat(ALICE.key)
    assert chat is not None and chat.timezone == "Pacific/Auckland"


# -- subscriptions --------------------------------------------------------------------------


async def test_subscribe_then_change_keeps_the_place_in_the_review(store: Store) -> None:
    sub = await store.subscribe(ALICE, daily(8, 0), "Europe/London", T0)
    assert (sub.schedule, sub.since, sub.paused, sub.finding_cursor) == (daily(8, 0), T0, False, 0)
    await store.plan_digests([planned(sub.id, ALICE, T0, cursors=(3, 5))])
    later = T0 + timedelta(days=2)
    changed = await store.subscribe(ALICE, weekly(0, 9, 0), "Asia/Tokyo", later)
    assert changed.id == sub.id
    assert changed.schedule == weekly(0, 9, 0)
    assert changed.since == later
    assert (changed.finding_cursor, changed.recommendation_cursor) == (3, 5)
    assert changed.timezone == "Europe/London"  # a zone is only a default for a new chat


async def test_pausing_and_resuming(store: Store) -> None:
    sub = await store.subscribe(ALICE, daily(), "Europe/London", T0)
    paused = await store.set_paused(ALICE.key, True, T0 + timedelta(hours=1))
    assert paused is not None and paused.paused and paused.since == T0
    assert await store.active_subscriptions() == []
    resumed_at = T0 + timedelta(days=3)
    resumed = await store.set_paused(ALICE.key, False, resumed_at)
    assert resumed is not None and not resumed.paused
    assert resumed.since == resumed_at  # nothing owed for the days it was paused
    assert [s.id for s in await store.active_subscriptions()] == [sub.id]
    again = await store.set_paused(ALICE.key, False, resumed_at + timedelta(days=1))
    assert again is not None and again.since == resumed_at
    assert await store.set_paused("telegram:nobody", True, T0) is None


async def test_active_subscriptions_by_platform_and_reachability(store: Store) -> None:
    a = await store.subscribe(ALICE, daily(), "Europe/London", T0)
    g = await store.subscribe(GROUP, daily(), "Europe/London", T0)
    c = await store.subscribe(CONSOLE, daily(), "Europe/London", T0)
    assert [s.id for s in await store.active_subscriptions()] == [a.id, g.id, c.id]
    assert [s.id for s in await store.active_subscriptions({"console"})] == [c.id]
    await store.deactivate_chat(GROUP.key, "bot was removed")
    assert [s.id for s in await store.active_subscriptions()] == [a.id, c.id]
    chat = await store.get_chat(GROUP.key)
    assert chat is not None and not chat.active and chat.inactive_reason == "bot was removed"
    # Subscribing again from the chat shows it is reachable again.
    await store.subscribe(GROUP, daily(), "Europe/London", T0 + timedelta(days=1))
    assert [s.id for s in await store.active_subscriptions()] == [a.id, g.id, c.id]


async def test_unsubscribe(store: Store) -> None:
    sub = await store.subscribe(ALICE, daily(), "Europe/London", T0)
    await store.plan_digests([planned(sub.id, ALICE, T0)])
    assert await store.unsubscribe(ALICE.key) is True
    assert await store.unsubscribe(ALICE.key) is False
    assert await store.get_subscription(ALICE.key) is None
    assert await store.list_outbox(ALICE.key) == []
    assert await store.get_chat(ALICE.key) is not None  # the zone is still remembered


# -- alerts ---------------------------------------------------------------------------------


async def test_alerts_are_kept_verbatim_in_order(store: Store) -> None:
    nasty = '\'; DROP TABLE alerts; -- <b>vetting</b> & "misconduct"'
    first = await store.add_alert(GROUP, "vetting", "Europe/London", T0)
    second = await store.add_alert(GROUP, nasty, "Europe/London", T0)
    other = await store.add_alert(ALICE, "stop and search", "Europe/London", T0)
    assert [a.words for a in await store.list_alerts(GROUP.key)] == ["vetting", nasty]
    assert await store.remove_alert(ALICE.key, first.id) is False  # not Alice's
    assert await store.remove_alert(GROUP.key, first.id) is True
    assert [a.id for a in await store.list_alerts(GROUP.key)] == [second.id]
    by_chat = await store.alerts_for_chats([GROUP.key, ALICE.key, "x:1"])
    assert {k: [a.words for a in v] for k, v in by_chat.items()} == {
        GROUP.key: [nasty],
        ALICE.key: ["stop and search"],
    }
    assert other.chat_key == ALICE.key


# -- templates (the API issue 4 relies on) ---------------------------------------------------


async def test_every_template_save_keeps_a_version(store: Store) -> None:
    key = GROUP.key
    assert await store.save_template(key, "digest", "v1 {{ x }}", "ann", T0) == 1
    assert await store.save_template(key, "digest", "v2", "bob", T0 + timedelta(1)) == 2
    assert await store.save_template(key, "answer", "a1", "ann", T0) == 1
    latest = await store.get_template(key, "digest")
    assert latest is not None and (latest.version, latest.source, latest.author) == (2, "v2", "bob")
    first = await store.get_template(key, "digest", 1)
    assert first is not None and first.source == "v1 {{ x }}" and first.created_at == T0
    assert await store.get_template(key, "digest", 9) is None
    assert await store.get_template(ALICE.key, "digest") is None
    assert [(t.name, t.version) for t in await store.list_templates(key)] == [
        ("answer", 1),
        ("digest", 2),
    ]
    assert [t.version for t in await store.template_history(key, "digest")] == [1, 2]


async def test_digest_template_choice(store: Store) -> None:
    key = GROUP.key
    await store.save_template(key, "mine", "one", "ann", T0)
    await store.save_template(key, "mine", "two", "ann", T0)
    assert await store.get_digest_template(key) is None
    await store.set_digest_template(key, "mine")
    assert await store.get_digest_template(key) == "mine"
    chosen = await store.digest_templates([key, ALICE.key])
    assert list(chosen) == [key] and chosen[key].source == "two"
    await store.set_digest_template(key, None)
    assert await store.get_digest_template(key) is None
    await store.set_digest_template(key, "mine")
    assert await store.remove_template(key, "mine") is True
    assert await store.remove_template(key, "mine") is False
    assert await store.get_digest_template(key) is None  # removing it unsets it
    assert await store.template_history(key, "mine") == []


# -- documents ------------------------------------------------------------------------------


async def test_the_same_text_is_stored_once(store: Store) -> None:
    assert await store.add_document(document("a", "Vetting failed.", T0)) is True
    again = document("b", "  vetting   FAILED. ", T0 + timedelta(hours=1))
    assert await store.add_document(again) is False
    assert await store.add_document(document("a", "Something else", T0)) is False  # same id
    found = await store.find_document_by_hash(text_hash("Vetting failed."))
    assert found is not None and found.id == "a" and found.outlet == "The Outlet"
    assert [d.id for d in await store.list_documents()] == ["a"]


async def test_documents_added_between(store: Store) -> None:
    for i in range(3):
        await store.add_document(document(f"d{i}", f"text {i}", T0 + timedelta(hours=i)))
    ids = [d.id for d in await store.documents_added_between(T0, T0 + timedelta(hours=1))]
    assert ids == ["d1"]
    assert [d.id for d in await store.documents_added_between(None, T0)] == ["d0"]
    assert len(await store.documents_added_between(None, T0 + timedelta(days=1))) == 3


# -- outbox ---------------------------------------------------------------------------------


async def test_planning_writes_once_and_moves_cursors_once(store: Store) -> None:
    sub = await store.subscribe(ALICE, daily(), "Europe/London", T0)
    assert await store.plan_digests([planned(sub.id, ALICE, T0, cursors=(1, 1))]) == 1
    assert await store.plan_digests([planned(sub.id, ALICE, T0, cursors=(2, 2))]) == 0
    after = await store.get_subscription(ALICE.key)
    assert after is not None and (after.finding_cursor, after.recommendation_cursor) == (1, 1)
    assert after.last_digest_at == T0
    entries = await store.list_outbox(ALICE.key)
    assert len(entries) == 1 and entries[0].status is OutboxStatus.QUEUED
    assert entries[0].reply.plain == "digest for telegram:100 at 09:00"
    assert await store.outbox_keys_since(T0) == {(sub.id, T0)}
    assert await store.outbox_keys_since(T0 + timedelta(minutes=1)) == set()
    # A subscription that went away in the meantime gets nothing.
    assert await store.plan_digests([planned(sub.id + 999, GROUP, T0)]) == 0


async def test_a_reply_survives_the_outbox_unchanged(store: Store) -> None:
    sub = await store.subscribe(ALICE, daily(), "Europe/London", T0)
    body = Reply(
        lines=(
            (Span("Finding 3", bold=True), Span(": <i>x</i> & 'y'")),
            (),
            (
                Span("link", link="https://example.org/?a=1&b=2"),
                Span("code", code=True, italic=True),
            ),
        ),
        citations=(
            Citation("d1", "ITV News", "Title", "Vetting", "https://itv.com/x"),
            Citation("d2", "Report", "Casey Review"),
        ),
        buttons=((Button("Finding 3 in full", "/finding 3"),),),
    )
    await store.plan_digests([planned(sub.id, ALICE, T0, body=body)])
    [entry] = await store.list_outbox(ALICE.key)
    assert entry.reply == body


ME, OTHER = "host-a:1:aa", "host-b:2:bb"
LEASE = timedelta(minutes=5)


async def five_planned(store: Store) -> list[int]:
    subs = [await store.subscribe(ChatRef("console", str(i)), daily(), "UTC", T0) for i in range(5)]
    await store.plan_digests([planned(s.id, ChatRef("console", s.chat_id), T0) for s in subs])
    return [s.id for s in subs]


async def test_claiming_takes_ready_entries_a_page_at_a_time(store: Store) -> None:
    sub_ids = await five_planned(store)
    assert await store.count_unfinished() == 5
    first = await store.claim_outbox(T0, ME, T0 + LEASE, limit=2)
    assert [e.subscription_id for e in first] == sub_ids[:2]
    assert all(
        (e.status, e.attempts, e.owner, e.lease_expires, e.resumed)
        == (OutboxStatus.SENDING, 1, ME, T0 + LEASE, False)
        for e in first
    )
    assert first[0].reply.plain == "digest for console:0 at 09:00"
    # Another process claiming at the same moment gets the others, never the same ones.
    rest = await store.claim_outbox(T0, OTHER, T0 + LEASE, limit=10)
    assert [e.subscription_id for e in rest] == sub_ids[2:]
    assert await store.claim_outbox(T0, OTHER, T0 + LEASE) == []
    assert await store.count_unfinished() == 5  # being sent is not done
    stored = {e.id: e for e in await store.list_outbox()}
    assert {stored[e.id].owner for e in first} == {ME}


async def test_claims_only_for_the_platforms_asked(store: Store) -> None:
    sub = await store.subscribe(ALICE, daily(), "UTC", T0)
    await five_planned(store)
    await store.plan_digests([planned(sub.id, ALICE, T0)])
    assert await store.claim_outbox(T0, ME, T0 + LEASE, platforms=[]) == []
    claimed = await store.claim_outbox(T0, ME, T0 + LEASE, platforms={"telegram"})
    assert [e.chat_key for e in claimed] == [ALICE.key]


async def test_a_lease_is_taken_over_only_after_it_runs_out(store: Store) -> None:
    await five_planned(store)
    [mine] = await store.claim_outbox(T0, ME, T0 + LEASE, limit=1)
    just_before = T0 + LEASE - timedelta(seconds=1)
    taken = await store.claim_outbox(just_before, OTHER, T0 + 9 * LEASE)
    assert mine.id not in [e.id for e in taken]
    # Renewed while sending: still not expired at the old expiry.
    assert await store.renew_leases([mine.id], ME, T0 + 2 * LEASE) == 1
    assert await store.renew_leases([mine.id], OTHER, T0 + 9 * LEASE) == 0  # not its lease
    assert await store.claim_outbox(T0 + LEASE, OTHER, T0 + 3 * LEASE) == []
    # The holder died: once the lease ran out another process takes the entry over.
    later = T0 + 2 * LEASE
    [over] = await store.claim_outbox(later, OTHER, later + LEASE)
    assert (over.id, over.owner, over.attempts, over.resumed) == (mine.id, OTHER, 2, True)
    # The first holder's late outcome is not recorded over the new holder's.
    done = Settlement(mine.id, OutboxStatus.DELIVERED)
    assert await store.settle_outbox(ME, [done], later) == 0
    assert await store.renew_leases([mine.id], ME, later + LEASE) == 0
    [still] = [e for e in await store.list_outbox() if e.id == mine.id]
    assert (still.status, still.owner) == (OutboxStatus.SENDING, OTHER)


async def test_settling_a_page_records_each_outcome(store: Store) -> None:
    await five_planned(store)
    a, b, c, d, e = await store.claim_outbox(T0, ME, T0 + LEASE)
    retry_at = T0 + timedelta(seconds=30)
    settled = await store.settle_outbox(
        ME,
        [
            Settlement(a.id, OutboxStatus.DELIVERED),
            Settlement(b.id, OutboxStatus.RETRY, "rate limited", retry_at),
            Settlement(c.id, OutboxStatus.GONE, "blocked by the user"),
            Settlement(d.id, OutboxStatus.FAILED, "refused", chat_id="elsewhere"),
        ],
        T0,
    )
    assert settled == 4
    by_id = {x.id: x for x in await store.list_outbox()}
    assert by_id[a.id].status is OutboxStatus.DELIVERED and by_id[a.id].reply.lines == ()
    assert (by_id[b.id].status, by_id[b.id].reason) == (OutboxStatus.RETRY, "rate limited")
    assert by_id[b.id].next_attempt_at == retry_at and by_id[b.id].reply == b.reply
    assert (by_id[b.id].owner, by_id[b.id].lease_expires) == ("", None)
    assert by_id[c.id].status is OutboxStatus.GONE
    assert (by_id[d.id].status, by_id[d.id].chat_id) == (OutboxStatus.FAILED, "elsewhere")
    assert await store.count_unfinished() == 2  # the retry, and e still being sent
    assert await store.claim_outbox(T0, OTHER, T0 + LEASE) == []
    [again] = await store.claim_outbox(retry_at, OTHER, retry_at + LEASE)
    assert (again.id, again.attempts, again.resumed) == (b.id, 2, False)


async def test_parts_delivered_are_remembered_for_the_retry(store: Store) -> None:
    await five_planned(store)
    [entry] = await store.claim_outbox(T0, ME, T0 + LEASE, limit=1)
    assert await store.record_parts(entry.id, ME, 2, T0) is True
    assert await store.record_parts(entry.id, OTHER, 3, T0) is False
    retry = Settlement(entry.id, OutboxStatus.RETRY, "network", T0)
    await store.settle_outbox(ME, [retry], T0)
    [again] = await store.claim_outbox(T0, ME, T0 + LEASE, limit=1)
    assert (again.id, again.parts_sent) == (entry.id, 2)
    await store.settle_outbox(ME, [Settlement(entry.id, OutboxStatus.DELIVERED)], T0)
    [done] = [e for e in await store.list_outbox() if e.id == entry.id]
    assert done.status is OutboxStatus.DELIVERED


async def test_expire_and_prune(store: Store) -> None:
    sub = await store.subscribe(ALICE, daily(), "Europe/London", T0)
    old, new = T0, T0 + timedelta(days=1)
    await store.plan_digests([planned(sub.id, ALICE, old), planned(sub.id, ALICE, new)])
    assert await store.expire_outbox(new, new, "more than 6 hours late") == 1
    entries = {e.scheduled: e for e in await store.list_outbox()}
    assert entries[old].status is OutboxStatus.FAILED
    assert entries[old].reason == "more than 6 hours late"
    assert entries[new].status is OutboxStatus.QUEUED
    assert await store.prune_outbox(new + timedelta(days=1)) == 1  # only the finished one
    assert [e.scheduled for e in await store.list_outbox()] == [new]


# -- moving and forgetting ------------------------------------------------------------------


async def test_moving_a_chat_takes_everything_along(store: Store) -> None:
    sub = await store.subscribe(GROUP, daily(), "Asia/Tokyo", T0)
    await store.add_alert(GROUP, "vetting", "Asia/Tokyo", T0)
    await store.save_template(GROUP.key, "mine", "src", "ann", T0)
    await store.set_digest_template(GROUP.key, "mine")
    await store.plan_digests(
        [planned(sub.id, GROUP, T0), planned(sub.id, GROUP, T0 + timedelta(1))]
    )
    [sent, waiting] = await store.list_outbox(GROUP.key)
    await store.claim_outbox(T0, ME, T0 + LEASE, limit=1)
    await store.settle_outbox(ME, [Settlement(sent.id, OutboxStatus.DELIVERED)], T0)
    supergroup = ChatRef("telegram", "-100200", ChatKind.GROUP)
    # The new id had a stray setting of its own; the group's settings win.
    await store.ensure_chat(supergroup, "UTC", T0)

    assert await store.move_chat(GROUP.key, supergroup) is True

    assert await store.get_chat(GROUP.key) is None
    chat = await store.get_chat(supergroup.key)
    assert chat is not None
    assert (chat.chat_id, chat.timezone, chat.title) == ("-100200", "Asia/Tokyo", "Reading group")
    moved = await store.get_subscription(supergroup.key)
    assert moved is not None and moved.id == sub.id and moved.chat_id == "-100200"
    assert [a.words for a in await store.list_alerts(supergroup.key)] == ["vetting"]
    assert await store.get_digest_template(supergroup.key) == "mine"
    assert [t.name for t in await store.list_templates(supergroup.key)] == ["mine"]
    by_id = {e.id: e for e in await store.list_outbox(supergroup.key)}
    assert by_id[sent.id].chat_id == "-200"  # where it was delivered stays on record
    assert by_id[waiting.id].chat_id == "-100200"


async def test_forgetting_a_chat_leaves_nothing_and_others_alone(store: Store) -> None:
    for chat in (GROUP, ALICE):
        sub = await store.subscribe(chat, daily(), "Europe/London", T0)
        await store.add_alert(chat, "vetting", "Europe/London", T0)
        await store.save_template(chat.key, "mine", "src", "ann", T0)
        await store.set_digest_template(chat.key, "mine")
        await store.plan_digests([planned(sub.id, chat, T0)])

    assert await store.forget_chat(GROUP.key) is True

    assert await store.get_chat(GROUP.key) is None
    assert await store.get_subscription(GROUP.key) is None
    assert await store.list_alerts(GROUP.key) == []
    assert await store.list_templates(GROUP.key) == []
    assert await store.get_digest_template(GROUP.key) is None
    assert await store.list_outbox(GROUP.key) == []
    assert [e.chat_key for e in await store.list_outbox()] == [ALICE.key]
    assert await store.get_subscription(ALICE.key) is not None
    assert len(await store.list_alerts(ALICE.key)) == 1
    assert await store.forget_chat(GROUP.key) is False


async def test_forget_works_for_templates_alone(store: Store) -> None:
    await store.save_template(GROUP.key, "mine", "src", "ann", T0)
    assert await store.forget_chat(GROUP.key) is True
    assert await store.list_templates(GROUP.key) == []


# -- named locks ----------------------------------------------------------------------------


async def test_a_lock_has_one_holder_until_it_expires_or_is_released(store: Store) -> None:
    name = "telegram-poller"
    assert await store.take_lock(name, ME, T0, T0 + LEASE) == ME
    assert await store.take_lock(name, OTHER, T0 + timedelta(minutes=1), T0 + LEASE) == ME
    assert await store.take_lock(name, ME, T0 + timedelta(minutes=4), T0 + 2 * LEASE) == ME
    assert await store.take_lock(name, OTHER, T0 + LEASE, T0 + 3 * LEASE) == ME  # renewed
    assert await store.take_lock(name, OTHER, T0 + 2 * LEASE, T0 + 3 * LEASE) == OTHER
    await store.release_lock(name, ME)  # not its lock any more: nothing happens
    assert await store.take_lock(name, ME, T0 + 2 * LEASE, T0 + 3 * LEASE) == OTHER
    await store.release_lock(name, OTHER)
    assert await store.take_lock(name, ME, T0 + 2 * LEASE, T0 + 3 * LEASE) == ME
    assert await store.take_lock("another", OTHER, T0, T0 + LEASE) == OTHER


# -- inquiries ------------------------------------------------------------------------------


async def test_a_chat_has_a_subscription_per_inquiry(store: Store) -> None:
    casey = await store.subscribe(GROUP, daily(8), "Europe/London", T0, inquiry="casey")
    harbour = await store.subscribe(GROUP, weekly(0, 9), "Europe/London", T0, inquiry="harbour")
    assert casey.id != harbour.id and (casey.inquiry, harbour.inquiry) == ("casey", "harbour")
    again = await store.subscribe(GROUP, daily(7), "Europe/London", T0, inquiry="casey")
    assert again.id == casey.id and again.schedule == daily(7)
    assert [s.inquiry for s in await store.list_subscriptions(GROUP.key)] == ["casey", "harbour"]

    paused = await store.set_paused(GROUP.key, True, T0, inquiry="harbour")
    assert paused is not None and paused.paused
    assert [s.inquiry for s in await store.active_subscriptions()] == ["casey"]
    # Each digest moves its own cursors.
    await store.plan_digests([planned(harbour.id, GROUP, T0, (2, 3))])
    casey_now = await store.get_subscription(GROUP.key, "casey")
    harbour_now = await store.get_subscription(GROUP.key, "harbour")
    assert casey_now is not None and casey_now.finding_cursor == 0
    assert harbour_now is not None and harbour_now.finding_cursor == 2

    assert await store.unsubscribe(GROUP.key, "casey")
    assert await store.get_subscription(GROUP.key, "casey") is None
    assert await store.get_subscription(GROUP.key, "harbour") is not None
    assert len(await store.list_outbox(GROUP.key)) == 1


async def test_the_chat_follows_one_inquiry_and_moves_and_forgets_with_it(store: Store) -> None:
    settings = await store.set_chat_inquiry(ALICE, "harbour", "Europe/Paris", T0)
    assert settings.inquiry == "harbour" and settings.timezone == "Europe/Paris"
    await store.subscribe(ALICE, daily(8), "Europe/Paris", T0, inquiry="harbour")
    await store.subscribe(ALICE, daily(9), "Europe/Paris", T0, inquiry="casey")
    await store.set_timezone(ALICE, "Asia/Tokyo", T0)
    assert {s.timezone for s in await store.list_subscriptions(ALICE.key)} == {"Asia/Tokyo"}

    moved = ChatRef("telegram", "101", ChatKind.PRIVATE, "Alice")
    assert await store.move_chat(ALICE.key, moved)
    chat = await store.get_chat(moved.key)
    assert chat is not None and chat.inquiry == "harbour"
    assert len(await store.list_subscriptions(moved.key)) == 2
    assert await store.forget_chat(moved.key)
    assert await store.list_subscriptions(moved.key) == []


async def test_rows_from_before_inquiries_are_adopted_by_the_default(store: Store) -> None:
    await store.subscribe(CONSOLE, daily(8), "Europe/London", T0)
    await store.add_document(document("late", "Late text.", T0))
    assert await store.adopt_unassigned("casey") == 3
    chat = await store.get_chat(CONSOLE.key)
    assert chat is not None and chat.inquiry == "casey"
    assert await store.get_subscription(CONSOLE.key, "casey") is not None
    assert [d.inquiry for d in await store.list_documents()] == ["casey"]
    assert await store.adopt_unassigned("casey") == 0
