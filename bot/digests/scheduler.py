"""The digest scheduler: platform-neutral, with the clock passed in.

One pass, :meth:`Scheduler.run_once`, does three things:

1. **Plan.** For each active subscription, its most recent scheduled time at or before
   ``now`` is due if it is less than 6 hours ago, not before the subscription started (or
   was resumed), and not already in the outbox. Older missed times are skipped, not sent
   late. Each due digest is built and written to the outbox, keyed by (subscription,
   scheduled time), in the same transaction that moves the subscription's cursors.
2. **Deliver.** Unfinished outbox entries are claimed a page at a time under a lease (see
   bot/digests/delivery.py), handed to the Sender of their chat's platform, and their
   outcomes recorded in group writes. At most ``concurrency`` sends are in flight at once.
3. **Tidy.** Entries still unfinished 6 hours after their time are given up; finished ones
   older than ``keep`` are deleted.

Exactly once, with any number of processes: a digest is written before it is sent; claiming
it takes a lease, so no other process sends it while this one holds it; its outcome is
recorded after. A process killed at any moment leaves its claimed entries to be taken over
once their leases expire (``lease``): those it had sent and not yet recorded are sent again
(at most ``concurrency + unsettled``), and every entry taken over says so in its record. A
digest split over several messages records each one sent, so a retry sends only the rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.digests.delivery import (
    RESENT_NOTE,
    Lease,
    PageSender,
    Sent,
    join,
    ready_platforms,
)
from bot.digests.digest import Digest
from bot.digests.schedule import Schedule, most_recent_occurrence
from bot.messages import DeliveryOutcome, DeliveryStatus, Reply
from bot.ports import Clock, Sender
from bot.store import (
    OutboxEntry,
    OutboxStatus,
    PlannedDigest,
    Settlement,
    Store,
    Subscription,
    utc,
)

log = logging.getLogger(__name__)

DUE_WINDOW = timedelta(hours=6)
# Only the last 6 hours' keys are needed to send nothing twice; a few days help operators.
KEEP_RECORDS = timedelta(days=3)
LATE_REASON = "more than 6 hours late: skipped"
LEASE = timedelta(minutes=5)
PLANNER_LOCK = "digest-planner"
NEXT_PASS = timedelta(seconds=1)
__all__ = ["RESENT_NOTE", "LATE_REASON", "LEASE", "Scheduler", "DeliveryRecord", "RetryPolicy"]


class DigestMaker(Protocol):
    """Builds the digests of many subscriptions for one pass (``DigestBuilder`` is one).

    One result per subscription, in order; ``None`` holds that subscription's digest back
    (nothing is written, so it stays due), as for an inquiry the bot no longer serves.
    """

    async def __call__(
        self, subscriptions: Sequence[Subscription], now: datetime, /
    ) -> Sequence[Digest | None]: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Network errors back off exponentially and give up after ``max_attempts`` sends."""

    max_attempts: int = 5
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=30)

    def delay(self, attempts: int) -> timedelta:
        grown: timedelta = self.first_delay * (2 ** max(0, attempts - 1))
        return min(grown, self.max_delay)


@dataclass(frozen=True)
class DeliveryRecord:
    """What happened to one digest in one pass (``inquiry-bot digests --json`` prints it)."""

    chat: str  # the chat's id on its platform (the new one if the chat moved)
    platform: str
    scheduled: str  # ISO 8601, UTC
    status: str  # delivered, retry, gone, failed
    reply: str  # the digest as plain text
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "chat": self.chat,
            "platform": self.platform,
            "scheduled": self.scheduled,
            "status": self.status,
            "reply": self.reply,
        }
        if self.reason:
            data["reason"] = self.reason
        return data


Sleep = Callable[[float], Awaitable[None]]
AfterPass = Callable[[Sequence[DeliveryRecord]], Awaitable[None]]


class Scheduler:
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        build_digest: DigestMaker,
        clock: Clock,
        concurrency: int = 8,
        *,
        retry: RetryPolicy | None = None,
        window: timedelta = DUE_WINDOW,
        keep: timedelta = KEEP_RECORDS,
        batch: int = 500,
        owner: str | None = None,
        lease: timedelta = LEASE,
        unsettled: int = 64,
        after_pass: AfterPass | None = None,
        on_record: Callable[[DeliveryRecord], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease <= timedelta(0):
            raise ValueError("the lease must be longer than zero")
        self.store = store
        self.senders = dict(senders)
        self.build_digest = build_digest
        self.clock = clock
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.window = window
        self.keep = keep
        self.batch = batch
        self.owner = owner or default_owner()
        self.lease = lease
        self.unsettled = max(1, unsettled)
        self.after_pass = after_pass  # e.g. counts outcomes for /metrics
        # Called with each send's record as soon as its outcome is known, before the outcome
        # is written to the store (so a report of it is out before the digest is marked).
        self.on_record = on_record
        # platform -> until when it asked us to wait (a rate limit): kept across passes
        self._held: dict[str, datetime] = {}
        self._pass_lock = asyncio.Lock()

    # -- the loop

    async def run_forever(self, stop: asyncio.Event, sleep: Sleep | None = None) -> None:
        """A pass at the start of every minute until ``stop`` is set.

        ``sleep(seconds)`` waits between passes; by default it waits on ``stop`` so setting
        it ends the loop at once. A failed pass is logged and the loop goes on.
        """
        wait = sleep or _waiter(stop)
        while not stop.is_set():
            now = self.clock.now()
            try:
                await self.run_once(now)
            except Exception:
                log.exception("digest pass at %s failed; trying again next minute", now)
            if stop.is_set():
                break
            await wait(_seconds_to_next_minute(self.clock.now()))

    # -- one pass

    async def run_once(self, now: datetime | None = None) -> list[DeliveryRecord]:
        # Passes in one process take turns: one pass's sends in flight are not another's
        # leftovers from an interrupted run.
        async with self._pass_lock:
            records = await self._run_once(utc(now or self.clock.now()))
        if self.after_pass is not None:
            await self.after_pass(records)
        return records

    async def _run_once(self, now: datetime) -> list[DeliveryRecord]:
        expired = await self.store.expire_outbox(now - self.window, now, LATE_REASON)
        if expired:
            log.warning("gave up %d digests more than %s late", expired, self.window)
        planned = await self.plan(now)
        records = await self.deliver(now)
        await self.store.prune_outbox(now - self.keep)
        log.info("digest pass at %s: %d planned, %d sends", now.isoformat(), planned, len(records))
        return records

    async def plan(self, now: datetime) -> int:
        """Write every digest due at ``now`` to the outbox; returns how many were written.

        One process plans at a time (the others would build the same digests only to find
        them written): while another holds the planner's lock, this pass only delivers.
        """
        holder = await self.store.take_lock(PLANNER_LOCK, self.owner, now, now + self.lease)
        if holder != self.owner:
            log.info("digest planning left to %s, which is planning now", holder)
            return 0
        try:
            return await self._plan(now)
        finally:
            await self.store.release_lock(PLANNER_LOCK, self.owner)

    async def _plan(self, now: datetime) -> int:
        due = await self.due(now)
        written = 0
        for start in range(0, len(due), self.batch):
            chunk = due[start : start + self.batch]
            digests = await self.build_digest([sub for sub, _ in chunk], now)
            written += await self.store.plan_digests(
                [
                    PlannedDigest(
                        subscription_id=sub.id,
                        scheduled=scheduled,
                        chat_key=sub.chat_key,
                        platform=sub.platform,
                        chat_id=sub.chat_id,
                        reply=digest.reply,
                        finding_cursor=digest.finding_cursor,
                        recommendation_cursor=digest.recommendation_cursor,
                        planned_at=now,
                    )
                    for (sub, scheduled), digest in zip(chunk, digests, strict=True)
                    if digest is not None
                ]
            )
        return written

    async def due(self, now: datetime) -> list[tuple[Subscription, datetime]]:
        """(subscription, scheduled time) for each digest owed at ``now`` and not yet planned."""
        subscriptions = await self.store.active_subscriptions(self.senders.keys())
        planned = await self.store.outbox_keys_since(now - self.window)
        latest: dict[tuple[Schedule, str], datetime | None] = {}
        due = []
        for sub in subscriptions:
            slot = (sub.schedule, sub.timezone)
            if slot not in latest:  # thousands of chats share a handful of schedules
                latest[slot] = _latest(sub, now)
            scheduled = latest[slot]
            if (
                scheduled is not None
                and scheduled >= sub.since
                and now - scheduled < self.window
                and (sub.id, scheduled) not in planned
            ):
                due.append((sub, scheduled))
        return due

    async def deliver(self, now: datetime) -> list[DeliveryRecord]:
        """Send every unfinished outbox entry that is ready, a claimed page at a time."""
        started = self.clock.now()

        def pass_now() -> datetime:
            # The pass's time moved on by the time it has taken: leases are renewed from it.
            return now + (self.clock.now() - started)

        records: list[tuple[int, DeliveryRecord]] = []
        plain: dict[int, tuple[Reply, str]] = {}  # digests often share one Reply

        def observe(entry: OutboxEntry, settled: Settlement) -> None:
            record = _record(entry, settled, plain)
            records.append((entry.id, record))
            if self.on_record is not None:
                self.on_record(record)

        while platforms := ready_platforms(self.senders, self._held, now):
            moment = pass_now()
            page = await self.store.claim_outbox(
                now, self.owner, moment + self.lease, platforms, self.batch
            )
            if not page:
                break
            lease = Lease(self.owner, self.lease, moment + self.lease / 3, {e.id for e in page})
            sender = PageSender(
                self.store,
                self.senders,
                lease,
                pass_now,
                lambda sent: self._decide_sent(sent, now),
                concurrency=self.concurrency,
                unsettled=self.unsettled,
                observe=observe,
            )
            await sender.run(page, lambda platform: self._held_until(platform, now))
            if len(plain) > 2_000:
                plain.clear()
        return [record for _, record in sorted(records, key=lambda pair: pair[0])]

    def _held_until(self, platform: str, now: datetime) -> datetime | None:
        until = self._held.get(platform)
        return until if until is not None and until > now else None

    async def _decide_sent(self, sent: Sent, now: datetime) -> Settlement:
        entry, outcome = sent.entry, sent.outcome
        status, reason, next_at = self._decide(outcome, entry.attempts, now)
        if next_at is not None and next_at <= now:
            # Claims in this pass take what is due at ``now``: a retry due at once would be
            # claimed again and again. It waits for the next pass.
            next_at = now + NEXT_PASS
        if outcome.retry_after is not None:
            held = self._held
            held[entry.platform] = max(held.get(entry.platform, now), next_at or now)
        if status is OutboxStatus.GONE:
            await self.store.deactivate_chat(sent.chat_key, reason)
            log.info("chat %s is gone (%s): its digests stop", sent.chat_key, reason)
        elif status is OutboxStatus.FAILED:
            log.warning("digest %d for %s failed: %s", entry.id, sent.chat_key, reason)
        return Settlement(entry.id, status, join(sent.note, reason), next_at, sent.chat_id)

    def _decide(
        self, outcome: DeliveryOutcome, attempts: int, now: datetime
    ) -> tuple[OutboxStatus, str, datetime | None]:
        match outcome.status:
            case DeliveryStatus.DELIVERED:
                return OutboxStatus.DELIVERED, "", None
            case DeliveryStatus.GONE:
                return OutboxStatus.GONE, outcome.reason or "the chat is unreachable", None
            case DeliveryStatus.MOVED:
                return OutboxStatus.FAILED, outcome.reason or "the chat moved too often", None
            case DeliveryStatus.FAILED:
                return OutboxStatus.FAILED, outcome.reason or "the platform refused it", None
        if outcome.retry_after is not None:  # rate limited: wait as long as we were told
            wait = timedelta(seconds=max(0.0, outcome.retry_after))
            return OutboxStatus.RETRY, outcome.reason or "rate limited", now + wait
        reason = outcome.reason or "network error"
        if attempts >= self.retry.max_attempts:
            return OutboxStatus.FAILED, f"gave up after {attempts} attempts: {reason}", None
        return OutboxStatus.RETRY, reason, now + self.retry.delay(attempts)


def _latest(sub: Subscription, now: datetime) -> datetime | None:
    try:
        return most_recent_occurrence(sub.schedule, ZoneInfo(sub.timezone), now)
    except (ValueError, KeyError) as err:
        log.error("subscription %d has an unusable schedule or zone: %s", sub.id, err)
        return None


def _record(
    entry: OutboxEntry, settled: Settlement, plain: dict[int, tuple[Reply, str]]
) -> DeliveryRecord:
    # Keyed by the Reply's id, holding the Reply so that its id is not reused meanwhile.
    found = plain.get(id(entry.reply))
    if found is None:
        found = plain[id(entry.reply)] = (entry.reply, entry.reply.plain)
    text = found[1]
    return DeliveryRecord(
        settled.chat_id or entry.chat_id,
        entry.platform,
        entry.scheduled.isoformat(),
        str(settled.status),
        text,
        settled.reason,
    )


def default_owner() -> str:
    """Names this process in the leases it takes: host, process id and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _seconds_to_next_minute(now: datetime) -> float:
    elapsed = now.second + now.microsecond / 1_000_000
    return max(1.0, 60.0 - elapsed)


def _waiter(stop: asyncio.Event) -> Sleep:
    async def wait(seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    return wait
