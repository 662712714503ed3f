"""Sliding-window budgets shared by every process through Redis (`BLENDBOT_REDIS_URL`).

One Lua script checks and counts a call against several budgets atomically, on Redis's own
clock, so N processes together stay within one budget (a user's rate limit, Telegram's 30
messages a second per bot, Discord's 50 requests a second per bot). When Redis cannot be
reached, `claim` answers None and the caller falls back to its in-process window; that is
logged once, and Redis is tried again a little later.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)
RETRY_AFTER_S = 10.0  # how long to stay in process after Redis failed, before trying again
PREFIX = "blendbot:window:"

# KEYS: the budgets' keys. ARGV: reserve, a unique member, must (1: a call that has to go,
# also counted in each budget's "<key>:must" window), then limit and period (ms) per key.
# A call with a reserve (one that may be left out, a streaming preview) fits only in the
# first (1 - reserve) of a budget less what the last period's must-go calls took.
# Returns 0 (counted in every budget) or the milliseconds until the call would fit them all.
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local reserve = tonumber(ARGV[1])
local must = ARGV[3] == '1'
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + 2 * i])
  local period = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
  local allowed = math.floor(limit * (1 - reserve))
  if reserve > 0 then
    redis.call('ZREMRANGEBYSCORE', key .. ':must', '-inf', now - period)
    allowed = allowed - redis.call('ZCARD', key .. ':must')
  end
  allowed = math.max(1, allowed)
  local count = redis.call('ZCARD', key)
  if count >= allowed then
    local at = redis.call('ZRANGE', key, count - allowed, count - allowed, 'WITHSCORES')
    wait = math.max(wait, tonumber(at[2]) + period - now, 1)
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[3 + 2 * i])
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, period)
  if must then
    redis.call('ZADD', key .. ':must', now, ARGV[2])
    redis.call('PEXPIRE', key .. ':must', period)
  end
end
return 0
"""


class Window(Protocol):
    """What a budget is: at most `limit` calls in any `period_s` for everything with `key`."""

    @property
    def key(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def period_s(self) -> float: ...


class SharedWindows:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._claim: Any = client.register_script(CLAIM)
        self._down_until = 0.0

    @classmethod
    def from_url(cls, url: str) -> SharedWindows:
        from redis.asyncio import Redis

        return cls(Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))

    async def claim(self, windows: Sequence[Window], reserve: float = 0.0,
                    member: str | None = None, must: bool = False) -> float | None:
        """0.0 if one call fits every window (and is counted as `member`), else the seconds
        to wait; None when Redis is away (the caller counts in process). `must`: a call that
        has to go (a reply's final text), for which calls with a `reserve` leave room."""
        if not windows or time.monotonic() < self._down_until:
            return None if windows else 0.0
        from redis.exceptions import RedisError

        args: list[Any] = [reserve, member or uuid.uuid4().hex, int(must)]
        for w in windows:
            args += [w.limit, int(w.period_s * 1000)]
        try:
            wait_ms = await self._claim(keys=[PREFIX + w.key for w in windows], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._went_down(exc, "limits are counted")
            return None
        if self._down_until:
            log.warning("Redis is back: limits are shared again")
            self._down_until = 0.0
        return int(wait_ms) / 1000.0

    def _went_down(self, exc: BaseException, what: str) -> None:
        """Stay in process for a while; say so once per outage."""
        if self._down_until == 0.0:
            log.warning("Redis is unreachable (%s): %s in this process only until it is back",
                        exc, what)
        self._down_until = time.monotonic() + RETRY_AFTER_S

    async def release(self, key: str, member: str) -> None:
        """Take back the call counted as `member` in the window `key` (best effort)."""
        from redis.exceptions import RedisError

        try:
            await self.client.zrem(PREFIX + key, member)
        except (RedisError, OSError, TimeoutError):
            pass  # the count lapses with its window

    async def take_turn(self, key: str, every_s: float) -> bool:
        """Wait until no process has taken a turn at `key` in the last `every_s` seconds, then
        take one (a lock that is never released: it lapses). False when Redis is away."""
        from redis.exceptions import RedisError

        while True:
            if time.monotonic() < self._down_until:
                return False
            try:
                if await self.client.set(PREFIX + key, uuid.uuid4().hex, nx=True,
                                         px=int(every_s * 1000)):
                    return True
                left_ms = await self.client.pttl(PREFIX + key)
            except (RedisError, OSError, TimeoutError) as exc:
                self._went_down(exc, "turns are taken")
                return False
            await asyncio.sleep(max(0.05, min(left_ms / 1000.0, every_s)) if left_ms > 0
                                else 0.05)

    async def close(self) -> None:
        await self.client.aclose()
