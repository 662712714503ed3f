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
                 shared: SharedWindows | None = None,
                 observe: Callable[[str, float | None], None] | None = None) -> None:
        self._clock = clock
        self.shared = shared
        # observe(platform, seconds a `take` waited; None: a `claim` found no room)
        self.observe = observe
        self._hits: dict[str, deque[float]] = {}
        self._must: dict[str, deque[float]] = {}  # the calls that had to go (`take`)
        self._queues: WeakValueDictionary[tuple[str, ...], asyncio.Lock] = WeakValueDictionary()

    def _window(self, budget: Budget, now: float,
                hits: dict[str, deque[float]] | None = None) -> deque[float]:
        window = (self._hits if hits is None else hits).setdefault(budget.key, deque())
        while window and window[0] <= now - budget.period_s:
            window.popleft()
        return window

    def wait_s(self, budgets: Sequence[Budget], reserve: float = 0.0) -> float:
        """Seconds until a call fits every budget. With a `reserve` (a call that may be left
        out: a streaming preview) it fits only in the first (1 - reserve) of a budget less
        what the last period's must-go calls (the replies' final texts) took: a busy chat's
        previews give way before its replies would wait, a quiet chat's all show."""
        now = self._clock()
        wait = 0.0
        for budget in budgets:
            hits = self._window(budget, now)
            allowed = int(budget.limit * (1.0 - reserve))
            if reserve > 0:
                allowed -= len(self._window(budget, now, self._must))
            allowed = max(1, allowed)
            if len(hits) >= allowed:
                wait = max(wait, hits[len(hits) - allowed] + budget.period_s - now)
        return wait

    async def claim(self, budgets: Sequence[Budget], reserve: float = 0.0,
                    must: bool = False) -> float:
        """Count one call now if it fits (`wait_s`): 0.0; else count nothing and return the
        seconds until it would fit. `must`: a call that has to go (see `wait_s`)."""
        wait = None
        if self.shared is not None:
            wait = await self.shared.claim(budgets, reserve, must=must)
        if wait is None:  # in process (no Redis, or Redis is away)
            wait = self.wait_s(budgets, reserve)
            if wait <= 0:
                self._count(budgets, must)
        if wait > 0 and reserve > 0 and self.observe is not None:  # a preview put off
            self.observe(_platform(budgets), None)
        return wait

    async def take(self, budgets: Sequence[Budget]) -> None:
        """Wait until one call fits every budget, then count it; callers waiting on the same
        budgets go first come, first served (a chat's messages keep their order)."""
        key = tuple(b.key for b in budgets)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Lock()
        started = self._clock()
        async with queue:
            while True:
                wait = await self.claim(budgets, must=True)
                if wait <= 0:
                    break
                await asyncio.sleep(wait + 0.005)  # the window moves on by the clock alone
        if self.observe is not None:
            self.observe(_platform(budgets), self._clock() - started)

    def _count(self, budgets: Sequence[Budget], must: bool) -> None:
        now = self._clock()
        for budget in budgets:
            self._window(budget, now).append(now)
            if must:
                self._window(budget, now, self._must).append(now)
        if len(self._hits) > 10_000:  # forget idle chats now and then
            self._hits = {k: v for k, v in self._hits.items() if v}
            self._must = {k: v for k, v in self._must.items() if v}


def _platform(budgets: Sequence[Budget]) -> str:
    """The platform of budgets keyed "<platform>:…"."""
    return budgets[0].key.split(":", 1)[0] if budgets else ""
