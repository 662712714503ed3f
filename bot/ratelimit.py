"""Per-user sliding-window rate limit: at most N messages in any W seconds."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable


class RateLimiter:
    def __init__(self, limit: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: defaultdict[Hashable, deque[float]] = defaultdict(deque)

    def check(self, key: Hashable) -> float:
        """0 if `key` may go now (and count it), else the seconds until it may."""
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

    def refund(self, key: Hashable) -> None:
        """Take back the last message counted for `key` (it turned out not to count)."""
        hits = self._hits.get(key)
        if hits:
            hits.pop()
