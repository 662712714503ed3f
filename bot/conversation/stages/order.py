"""Channel turn: one turn at a time per channel, in the order events arrived."""

from __future__ import annotations

import asyncio
from weakref import WeakValueDictionary

from ..pipeline import Next, Turn


class ChannelTurns:
    """Taken before anything else awaits, so turns of one channel keep arrival order
    (asyncio locks are first come, first served)."""

    def __init__(self) -> None:
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def __call__(self, turn: Turn, rest: Next) -> None:
        async with self.lock(turn.key):
            await rest(turn)
