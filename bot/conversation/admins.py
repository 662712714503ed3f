"""Who may change a channel's settings, as the platform last said: answers are trusted for a
while, so a busy group does not ask the platform on every command."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable


class AdminCache:
    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._answers: dict[Hashable, tuple[bool, float]] = {}

    async def check(self, key: Hashable, ask: Callable[[], Awaitable[bool]]) -> bool:
        """The cached answer for `key`, else `ask()`'s (an error is not cached: it raises)."""
        now = self.clock()
        cached = self._answers.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        allowed = await ask()
        if len(self._answers) > 10_000:
            self._answers = {k: v for k, v in self._answers.items() if v[1] > now}
        self._answers[key] = (allowed, now + self.ttl)
        return allowed
