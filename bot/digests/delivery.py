"""Sending what the outbox holds, a page at a time, under a lease.

A page of entries is claimed in one write (each held by this process until its lease
expires), sent ``concurrency`` at a time, and the outcomes recorded in group writes: one
write records every send finished since the last one, while the next sends go on. A send
waits only if ``unsettled`` outcomes are already waiting to be written, which bounds what a
crash can leave unrecorded. Leases are renewed while a page is being sent, so a slow page is
never taken over by another process; a dead process's page is, once its leases run out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.messages import ChatRef, DeliveryOutcome, DeliveryStatus, Reply
from bot.ports import Sender
from bot.store import OutboxEntry, OutboxStatus, Settlement, Store

log = logging.getLogger(__name__)

RESENT_NOTE = "sent again after an interrupted run (may be a duplicate)"
HELD_REASON = "the platform asked us to wait"
MAX_MOVES = 3  # a chat that keeps moving is a platform bug, not a reason to loop

PartsDone = Callable[[int, int], Awaitable[None]]


@runtime_checkable
class PartSender(Protocol):
    """A sender that splits a reply into several messages and can resume part way."""

    platform: str

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome: ...

    async def send_parts(
        self, chat_id: str, reply: Reply, skip: int, delivered: PartsDone
    ) -> DeliveryOutcome:
        """Send the reply's messages from number ``skip`` (0-based) on, awaiting
        ``delivered(sent, total)`` after each one: ``sent`` messages of ``total`` are out."""
        ...


@dataclass(frozen=True)
class Sent:
    """One send's outcome, on its way to the store."""

    entry: OutboxEntry
    outcome: DeliveryOutcome
    chat_key: str
    chat_id: str
    note: str


@dataclass
class Lease:
    """This process's hold on the entries it claimed, and when to renew it."""

    owner: str
    length: timedelta
    renew_at: datetime
    held: set[int] = field(default_factory=set)


Decide = Callable[[Sent], Awaitable[Settlement]]


class PageSender:
    """Sends one claimed page and records the outcomes (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        lease: Lease,
        now: Callable[[], datetime],
        decide: Decide,
        *,
        concurrency: int,
        unsettled: int,
        observe: Callable[[OutboxEntry, Settlement], None] | None = None,
    ) -> None:
        self.store = store
        self.observe = observe
        self.senders = senders
        self.lease = lease
        self.now = now
        self.decide = decide
        self.concurrency = concurrency
        self.unsettled = unsettled
        # Checking a runtime Protocol is slow: once per platform, not once per digest.
        self._resumable = {p: isinstance(s, PartSender) for p, s in senders.items()}
        self._pending: list[Settlement] = []
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()
        self._done = False
        self._writes = asyncio.Lock()

    async def run(self, page: list[OutboxEntry], held: Callable[[str], datetime | None]) -> None:
        queue: asyncio.Queue[OutboxEntry | None] = asyncio.Queue()
        for entry in page:
            queue.put_nowait(entry)
        for _ in range(self.concurrency):
            queue.put_nowait(None)

        async def work() -> None:
            while (entry := queue.get_nowait()) is not None:
                await self._renew_if_due()
                until = held(entry.platform)
                if until is not None:
                    await self._add(
                        Settlement(entry.id, OutboxStatus.RETRY, HELD_REASON, until), entry
                    )
                    continue
                sent = await self._deliver(entry)
                await self._add(await self.decide(sent), entry)

        async with asyncio.TaskGroup() as group:
            settler = group.create_task(self._settle_loop())
            async with asyncio.TaskGroup() as workers:
                for _ in range(min(self.concurrency, len(page))):
                    workers.create_task(work())
            self._done = True
            self._wake.set()
            await settler

    # -- recording outcomes, in groups

    async def _add(self, settlement: Settlement, entry: OutboxEntry) -> None:
        if self.observe is not None:  # before its outcome is written: see Scheduler.on_record
            self.observe(entry, settlement)
        async with self._room:
            await self._room.wait_for(lambda: len(self._pending) < self.unsettled)
            self._pending.append(settlement)
        self._wake.set()

    async def _settle_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._settle(batch)
                async with self._room:
                    self._room.notify_all()
            if self._done and not self._pending:
                return

    async def _settle(self, batch: list[Settlement]) -> None:
        async with self._writes:
            settled = await self.store.settle_outbox(self.lease.owner, batch, self.now())
        self.lease.held.difference_update(s.entry_id for s in batch)
        if settled < len(batch):
            log.warning(
                "%d of %d digests were taken over by another process before their outcome "
                "was recorded here (the lease ran out): it will record them",
                len(batch) - settled,
                len(batch),
            )

    async def _renew_if_due(self) -> None:
        now = self.now()
        if now < self.lease.renew_at or not self.lease.held:
            return
        self.lease.renew_at = now + self.lease.length / 3
        async with self._writes:
            await self.store.renew_leases(
                list(self.lease.held), self.lease.owner, now + self.lease.length
            )

    # -- one send

    async def _deliver(self, entry: OutboxEntry) -> Sent:
        if entry.resumed:
            log.warning(
                "digest %d for %s was claimed by a process that stopped before recording it; "
                "sending it again",
                entry.id,
                entry.chat_key,
            )
        chat_key, chat_id = entry.chat_key, entry.chat_id
        outcome = await self._send(entry, chat_id, entry.parts_sent)
        moves = 0
        while outcome.status is DeliveryStatus.MOVED and outcome.new_chat_id and moves < MAX_MOVES:
            moves += 1
            chat_key, chat_id = await self._move(chat_key, entry.platform, outcome.new_chat_id)
            outcome = await self._send(entry, chat_id, 0)
        note = RESENT_NOTE if entry.resumed else ""
        if moves:
            note = join(note, f"the chat moved to {chat_id}")
        return Sent(entry, outcome, chat_key, chat_id, note)

    async def _send(self, entry: OutboxEntry, chat_id: str, skip: int) -> DeliveryOutcome:
        sender = self.senders[entry.platform]

        async def delivered(sent: int, total: int) -> None:
            await self._renew_if_due()
            if sent < total:  # the last part is recorded with the outcome
                async with self._writes:
                    await self.store.record_parts(entry.id, self.lease.owner, sent, self.now())

        try:
            if self._resumable[entry.platform]:
                resumable: PartSender = sender  # type: ignore[assignment]
                return await resumable.send_parts(chat_id, entry.reply, skip, delivered)
            return await sender.send(chat_id, entry.reply)
        except Exception as err:  # a sender should report outcomes, but must not stop the pass
            log.exception("sending digest %d to %s:%s raised", entry.id, entry.platform, chat_id)
            return DeliveryOutcome(DeliveryStatus.RETRY, reason=f"{type(err).__name__}: {err}")

    async def _move(self, chat_key: str, platform: str, new_id: str) -> tuple[str, str]:
        settings = await self.store.get_chat(chat_key)
        kind = settings.kind if settings else ChatRef(platform, new_id).kind
        title = settings.title if settings else None
        new = ChatRef(platform, new_id, kind, title)
        await self.store.move_chat(chat_key, new)
        log.info("chat %s moved to %s; its subscription moved with it", chat_key, new.key)
        return new.key, new_id


def join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def ready_platforms(
    senders: Collection[str], held: Mapping[str, datetime], now: datetime
) -> list[str]:
    return [p for p in senders if held.get(p, now) <= now]
