"""Limits: each user may send so many messages in a window; beyond it, a polite notice.

A redelivered message (stored already) neither counts nor gets the notice."""

from __future__ import annotations

from collections.abc import Collection

from ...ratelimit import RateLimiter
from ..pipeline import Next, Turn
from ..service import ChatService


class RateLimit:
    def __init__(self, service: ChatService, limiter: RateLimiter,
                 exempt: Collection[str] = ()) -> None:
        self.service = service
        self.limiter = limiter
        self.exempt = exempt

    async def __call__(self, turn: Turn, rest: Next) -> None:
        event = turn.event
        if event.platform in self.exempt:
            return await rest(turn)
        key = (event.platform, event.user_id)
        wait = await self.limiter.check(key)
        if wait:
            if await self._stored(turn):
                return turn.end("ignored", reason="redelivered")
            return turn.end("notice", (
                f"Slow down a little, {event.user_name}: at most {self.limiter.limit} "
                f"messages every {self.limiter.window_s:g} s. "
                f"Try again in {max(1, round(wait))} s."), reason="rate limited")
        try:
            await rest(turn)
        finally:
            if turn.outcome is not None and turn.outcome.reason == "redelivered":
                await self.limiter.refund(key)

    async def _stored(self, turn: Turn) -> bool:
        message_id, channel = turn.event.message_id, turn.channel
        return message_id is not None and channel is not None and \
            await self.service.store.has_message(channel.id, message_id)
