"""Fair turns: a limit on concurrent generations, with waiting channels served round-robin.

Used process-wide for local generation (CPU-bound) and once per model (its own queue).
Waiting requests are grouped by channel and served round-robin, so a channel that sends ten
messages in a row cannot make another channel wait for all ten. A gate may bound its queue:
beyond the bound a request is refused at once with `BusyError` instead of waiting.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .base import ModelError


def default_local_limit() -> int:
    """Concurrent local generations for this machine: 1 up to 4 cores, then one per 4 cores."""
    return max(1, (os.cpu_count() or 1) // 4)


BUSY_MESSAGE = "I'm busy with other conversations right now; please try again in a moment"


class BusyError(ModelError):
    """Too many requests are already waiting; the message asks the user to try again later."""

    def __init__(self, queue: str = "") -> None:
        super().__init__(BUSY_MESSAGE)
        self.queue = queue  # which queue was full, for logs


class FairGate:
    """`limit` concurrent turns; at most `max_waiting` more wait (None: no bound)."""

    def __init__(
        self, limit: int | None = None, max_waiting: int | None = None, name: str = "local"
    ) -> None:
        self.limit = limit or default_local_limit()
        self.max_waiting = max_waiting
        self.name = name
        self._active = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    @asynccontextmanager
    async def turn(self, channel: str) -> AsyncIterator[None]:
        await self._acquire(channel)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, channel: str) -> None:
        if self._active < self.limit and not self._waiting:
            self._active += 1
            return
        if self.max_waiting is not None and self.waiting >= self.max_waiting:
            raise BusyError(self.name)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(channel, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # granted just as we were cancelled: pass the turn on
            else:
                self._forget(channel, future)
            raise

    def _forget(self, channel: str, future: asyncio.Future[None]) -> None:
        queue = self._waiting.get(channel)
        if queue and future in queue:
            queue.remove(future)
            if not queue:
                del self._waiting[channel]

    def _release(self) -> None:
        self._active -= 1
        while self._waiting and self._active < self.limit:
            channel, queue = next(iter(self._waiting.items()))
            future = queue.popleft()
            del self._waiting[channel]
            if queue:
                self._waiting[channel] = queue  # back of the line: round-robin
            if not future.done():
                self._active += 1
                future.set_result(None)
