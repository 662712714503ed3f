"""Limits: each user may send so many messages in a window; beyond it, a polite notice."""

from __future__ import annotations

from collections.abc import Collection

from ...ratelimit import RateLimiter
from ..pipeline import Next, Turn


class RateLimit:
    def __init__(self, limiter: RateLimiter, exempt: Collection[str] = ()) -> None:
        self.limiter = limiter
        self.exempt = exempt

    async def __call__(self, turn: Turn, rest: Next) -> None:
        event = turn.event
        if event.platform not in self.exempt:
            wait = await self.limiter.check((event.platform, event.user_id))
            if wait:
                return turn.end("notice", (
                    f"Slow down a little, {event.user_name}: at most {self.limiter.limit} "
                    f"messages every {self.limiter.window_s:g} s. "
                    f"Try again in {max(1, round(wait))} s."), reason="rate limited")
        await rest(turn)
