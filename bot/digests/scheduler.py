"""The digest scheduler: platform-neutral, with the clock passed in.

One pass, :meth:`Scheduler.run_once`, does three things:

1. **Plan.** For each active subscription, its most recent scheduled time at or before
   ``now`` is due if it is less than 6 hours ago, not before the subscription started (or
   was resumed), and not already in the outbox. Older missed times are skipped, not sent
   late. Each due digest is built and written to the outbox, keyed by (subscription,
   scheduled time), in the same transaction that moves the subscription's cursors.
2. **Deliver.** Every unfinished outbox entry is marked as being sent, handed to the Sender
   of its chat's platform, then marked with the outcome. At most ``concurrency`` sends are
   in flight at once.
3. **Tidy.** Entries still unfinished 6 hours after their time are given up; finished ones
   older than ``keep`` are deleted.

Exactly once: a digest is written before it is sent and marked after, so a pass killed at
any moment and run again sends each digest once, except those handed to a sender and not yet
marked when the process died: those are sent again (and say so in their record). There are
at most ``concurrency`` of them. One scheduler per database is assumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.digests.digest import Digest
from bot.digests.schedule import Schedule, most_recent_occurrence
from bot.messages import ChatRef, DeliveryOutcome, DeliveryStatus
from bot.ports import Clock, Sender
from bot.store import OutboxEntry, OutboxStatus, PlannedDigest, Store, Subscription, utc

log = logging.getLogger(__name__)

DUE_WINDOW = timedelta(hours=6)
# Only the last 6 hours' keys are needed to send nothing twice; a few days help operators.
KEEP_RECORDS = timedelta(days=3)
LATE_REASON = "more than 6 hours late: skipped"
RESENT_NOTE = "sent again after an interrupted run (may be a duplicate)"
MAX_MOVES = 3  # a chat that keeps moving is a platform bug, not a reason to loop


class DigestMaker(Protocol):
    """Builds the digests of many subscriptions for one pass (``DigestBuilder`` is one)."""

    async def __call__(
        self, subscriptions: Sequence[Subscription], now: datetime, /
    ) -> Sequence[Digest]: ...


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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.senders = dict(senders)
        self.build_digest = build_digest
        self.clock = clock
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.window = window
        self.keep = keep
        self.batch = batch
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
            return await self._run_once(utc(now or self.clock.now()))

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
        """Write every digest due at ``now`` to the outbox; returns how many were written."""
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
        """Send every unfinished outbox entry that is ready, ``concurrency`` at a time."""
        queue: asyncio.Queue[OutboxEntry | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        done: list[tuple[int, DeliveryRecord]] = []
        held = self._held

        async def feed() -> None:
            after = 0
            while page := await self.store.due_outbox(now, after_id=after, limit=self.batch):
                for entry in page:
                    if entry.platform in self.senders:
                        await queue.put(entry)
                after = page[-1].id
            for _ in range(self.concurrency):
                await queue.put(None)

        async def work() -> None:
            while (entry := await queue.get()) is not None:
                until = held.get(entry.platform)
                if until is not None and until > now:
                    done.append(
                        (entry.id, _record(entry, "retry", "the platform asked us to wait"))
                    )
                    continue
                record = await self._deliver(entry, now, held)
                if record is not None:
                    done.append((entry.id, record))

        async with asyncio.TaskGroup() as group:
            group.create_task(feed())
            for _ in range(self.concurrency):
                group.create_task(work())
        return [record for _, record in sorted(done, key=lambda pair: pair[0])]

    # -- one send

    async def _deliver(
        self, entry: OutboxEntry, now: datetime, held: dict[str, datetime]
    ) -> DeliveryRecord | None:
        interrupted = entry.status is OutboxStatus.SENDING
        if interrupted:
            log.warning(
                "digest %d for %s was being sent when the last run stopped; sending it again",
                entry.id,
                entry.chat_key,
            )
        if not await self.store.claim_outbox(entry.id, now, entry.attempts):
            return None  # another pass got to it first
        attempts = entry.attempts + 1
        chat_key, chat_id = entry.chat_key, entry.chat_id
        outcome = await self._send(entry.platform, chat_id, entry)
        moves = 0
        while outcome.status is DeliveryStatus.MOVED and outcome.new_chat_id and moves < MAX_MOVES:
            moves += 1
            chat_key, chat_id = await self._move(chat_key, entry.platform, outcome.new_chat_id)
            outcome = await self._send(entry.platform, chat_id, entry)
        note = RESENT_NOTE if interrupted else ""
        if moves:
            note = _join(note, f"the chat moved to {chat_id}")
        return await self._settle(entry, outcome, attempts, now, chat_key, chat_id, note, held)

    async def _send(self, platform: str, chat_id: str, entry: OutboxEntry) -> DeliveryOutcome:
        try:
            return await self.senders[platform].send(chat_id, entry.reply)
        except Exception as err:  # a sender should report outcomes, but must not stop the pass
            log.exception("sending digest %d to %s:%s raised", entry.id, platform, chat_id)
            return DeliveryOutcome(DeliveryStatus.RETRY, reason=f"{type(err).__name__}: {err}")

    async def _move(self, chat_key: str, platform: str, new_id: str) -> tuple[str, str]:
        settings = await self.store.get_chat(chat_key)
        kind = settings.kind if settings else ChatRef(platform, new_id).kind
        title = settings.title if settings else None
        new = ChatRef(platform, new_id, kind, title)
        await self.store.move_chat(chat_key, new)
        log.info("chat %s moved to %s; its subscription moved with it", chat_key, new.key)
        return new.key, new_id

    async def _settle(
        self,
        entry: OutboxEntry,
        outcome: DeliveryOutcome,
        attempts: int,
        now: datetime,
        chat_key: str,
        chat_id: str,
        note: str,
        held: dict[str, datetime],
    ) -> DeliveryRecord:
        status, reason, next_at = self._decide(outcome, attempts, now)
        if outcome.retry_after is not None:
            held[entry.platform] = max(held.get(entry.platform, now), next_at or now)
        if status is OutboxStatus.GONE:
            await self.store.deactivate_chat(chat_key, reason)
            log.info("chat %s is gone (%s): its digests stop", chat_key, reason)
        elif status is OutboxStatus.FAILED:
            log.warning("digest %d for %s failed: %s", entry.id, chat_key, reason)
        reason = _join(note, reason)
        await self.store.finish_outbox(entry.id, status, now, reason, next_at, chat_id)
        return DeliveryRecord(
            chat=chat_id,
            platform=entry.platform,
            scheduled=entry.scheduled.isoformat(),
            status=str(status),
            reply=entry.reply.plain,
            reason=reason,
        )

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


def _record(entry: OutboxEntry, status: str, reason: str) -> DeliveryRecord:
    return DeliveryRecord(
        entry.chat_id,
        entry.platform,
        entry.scheduled.isoformat(),
        status,
        entry.reply.plain,
        reason,
    )


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


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
