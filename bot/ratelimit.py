"""Per-user sliding-window rate limit: at most N messages in any W seconds.

Counted in Redis, across every process, when given `SharedWindows`; in process otherwise
(and while Redis is away)."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from .shared_windows import SharedWindows


@dataclass(frozen=True, slots=True)
class _UserWindow:
    key: str
    limit: int
    period_s: float


class RateLimiter:
    def __init__(self, limit: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 shared: SharedWindows | None = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self.shared = shared
        self._clock = clock
        self._hits: defaultdict[Hashable, deque[float]] = defaultdict(deque)
        self._counted: dict[Hashable, tuple[str, str]] = {}  # key -> last shared (name, member)

    async def check(self, key: Hashable) -> float:
        """0 if `key` may go now (and count it), else the seconds until it may."""
        if self.shared is not None:
            name = "rate:" + ":".join(map(str, key)) if isinstance(key, tuple) else f"rate:{key}"
            member = uuid.uuid4().hex
            wait = await self.shared.claim([_UserWindow(name, self.limit, self.window_s)],
                                           member=member)
            if wait is not None:
                if not wait:
                    if len(self._counted) > 10_000:
                        self._counted.clear()
                    self._counted[key] = (name, member)
                return wait
        return self.check_local(key)

    async def refund(self, key: Hashable) -> None:
        """Take back the last message counted for `key` (it turned out not to count)."""
        counted = self._counted.pop(key, None)
        if counted is not None and self.shared is not None:
            await self.shared.release(*counted)
            return
        hits = self._hits.get(key)
        if hits:
            hits.pop()

    def check_local(self, key: Hashable) -> float:
        now = self._clock()
        hits = self._hits[key]
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window_s - now
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle users now and then
            for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
                del self._hits[k]
        return 0.0
