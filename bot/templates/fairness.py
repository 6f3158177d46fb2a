"""Sharing the template workers fairly between chats.

Two workers serve every chat, so one chat must not be able to keep them to itself:

- :class:`FairPool` hands a free worker to the waiting chat served least recently, not in
  order of asking: a chat that has just had a render waits behind one that has not;
- :class:`ChatBudget` gives each chat so many seconds of worker time a minute; a chat past
  its share is told to wait (and how long) instead of being queued.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Generic, TypeVar

_T = TypeVar("_T")

_FORGET_AFTER = 4_096  # chats tracked before those back within their budget are forgotten


class FairPool(Generic[_T]):
    """Items (workers) lent to one owner at a time, the owner served least recently first."""

    def __init__(self, items: Iterable[_T]) -> None:
        self._free: deque[_T] = deque(items)
        self._waiting: OrderedDict[str, deque[asyncio.Future[_T]]] = OrderedDict()
        self._served: OrderedDict[str, int] = OrderedDict()  # owner: when, as a count
        self._loans = 0

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    async def acquire(self, owner: str) -> _T:
        if self._free and not self._waiting:
            self._note_served(owner)
            return self._free.popleft()
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, deque()).append(future)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result())  # lent just as its borrower gave up
            else:
                self._forget(owner, future)
            raise

    def release(self, item: _T) -> None:
        """Lend ``item`` to the owner whose turn it is, or keep it free."""
        while self._waiting:
            owner = min(self._waiting, key=lambda o: self._served.get(o, -1))
            queue = self._waiting[owner]
            future = queue.popleft()
            if not queue:
                del self._waiting[owner]
            if not future.done():
                self._note_served(owner)
                future.set_result(item)
                return
        self._free.append(item)

    def fail_waiting(self, error: BaseException) -> None:
        """Every waiting owner hears ``error`` (the pool is closing)."""
        waiting, self._waiting = self._waiting, OrderedDict()
        for queue in waiting.values():
            for future in queue:
                if not future.done():
                    future.set_exception(error)

    def _note_served(self, owner: str) -> None:
        self._loans += 1
        self._served[owner] = self._loans
        self._served.move_to_end(owner)
        if len(self._served) > _FORGET_AFTER:
            self._served.popitem(last=False)  # forgotten: it counts as never served

    def _forget(self, owner: str, future: asyncio.Future[_T]) -> None:
        queue = self._waiting.get(owner)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self._waiting[owner]


class ChatBudget:
    """Seconds of worker time per chat, refilled steadily (a token bucket per chat).

    A chat may use ``seconds`` in a burst, and ``seconds`` every ``window`` seconds after
    that. Time used is charged after the fact, so one render may overdraw; the chat then
    waits until it is back within its share.
    """

    def __init__(self, seconds: float, window: float) -> None:
        self.seconds = seconds
        self.window = window
        self._used: dict[str, tuple[float, float]] = {}  # chat: (seconds owed, as of when)

    def wait(self, chat: str, now: float) -> float:
        """Seconds until ``chat`` may render again; 0 if it may now."""
        owed = self._owed(chat, now)
        if owed <= self.seconds:
            return 0.0
        return (owed - self.seconds) * self.window / self.seconds

    def charge(self, chat: str, seconds: float, now: float) -> None:
        self._used[chat] = (self._owed(chat, now) + max(seconds, 0.0), now)
        if len(self._used) > _FORGET_AFTER:
            self._used = {c: u for c, u in self._used.items() if self._owed(c, now) > 0}

    def _owed(self, chat: str, now: float) -> float:
        owed, since = self._used.get(chat, (0.0, now))
        refill = (now - since) * self.seconds / self.window
        return max(0.0, owed - refill)
