"""Outbound pacing: sliding-window budgets of platform calls, shared by all replies (and by
every process, in Redis, when the pacer is given `SharedWindows`)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from weakref import WeakValueDictionary

from ..shared_windows import SharedWindows


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `limit` calls in any `period_s` seconds for everything sharing `key`."""

    key: str
    limit: int
    period_s: float


class Pacer:
    """Counts sends and edits per budget key. One per process, shared by every reply, so
    three replies streaming into one group together stay within the group's budget. With
    `shared`, budgets are counted in Redis so that all processes of the bot share them; while
    Redis is away, in process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 shared: SharedWindows | None = None) -> None:
        self._clock = clock
        self.shared = shared
        self._hits: dict[str, deque[float]] = {}
        self._queues: WeakValueDictionary[tuple[str, ...], asyncio.Lock] = WeakValueDictionary()

    def _window(self, budget: Budget, now: float) -> deque[float]:
        hits = self._hits.setdefault(budget.key, deque())
        while hits and hits[0] <= now - budget.period_s:
            hits.popleft()
        return hits

    def wait_s(self, budgets: Sequence[Budget], reserve: float = 0.0) -> float:
        """Seconds until a call fits every budget, keeping `reserve` of each budget free."""
        now = self._clock()
        wait = 0.0
        for budget in budgets:
            hits = self._window(budget, now)
            allowed = max(1, int(budget.limit * (1.0 - reserve)))
            if len(hits) >= allowed:
                wait = max(wait, hits[len(hits) - allowed] + budget.period_s - now)
        return wait

    async def claim(self, budgets: Sequence[Budget], reserve: float = 0.0) -> float:
        """Count one call now if it fits (with `reserve` left over): 0.0; else count nothing
        and return the seconds until it would fit."""
        if self.shared is not None:
            wait = await self.shared.claim(budgets, reserve)
            if wait is not None:
                return wait
        wait = self.wait_s(budgets, reserve)
        if wait <= 0:
            self._count(budgets)
        return wait

    async def take(self, budgets: Sequence[Budget]) -> None:
        """Wait until one call fits every budget, then count it; callers waiting on the same
        budgets go first come, first served (a chat's messages keep their order)."""
        key = tuple(b.key for b in budgets)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Lock()
        async with queue:
            while True:
                wait = await self.claim(budgets)
                if wait <= 0:
                    return
                await asyncio.sleep(wait + 0.005)  # the window moves on by the clock alone

    def _count(self, budgets: Sequence[Budget]) -> None:
        now = self._clock()
        for budget in budgets:
            self._window(budget, now).append(now)
        if len(self._hits) > 10_000:  # forget idle chats now and then
            self._hits = {k: v for k, v in self._hits.items() if v}
