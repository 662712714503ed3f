"""What a turn reads about a channel besides its history (its memory summary, its pinned
facts), kept in memory in step with this process's writes, so a turn makes no query for
them. Writes of other processes show after `ttl_s`, as with the Store's channel states."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

MAX_ENTRIES = 20_000
_MISSING = object()


class ChannelCache:
    """Values by (channel id, kind, key). A write drops the values it changes: one channel's
    (`forget(channel_id)`), one kind's in every channel (`forget(kind=...)`), or all."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[int, str, Hashable], tuple[Any, float]] = {}

    def get(self, channel_id: int, kind: str, key: Hashable = None) -> Any:
        """The value kept, or `MISSING` (`ChannelCache.missing(value)` says which)."""
        hit = self._entries.get((channel_id, kind, key))
        if hit is None or hit[1] < time.monotonic():
            return _MISSING
        return hit[0]

    @staticmethod
    def missing(value: Any) -> bool:
        return value is _MISSING

    def put(self, channel_id: int, kind: str, value: Any, key: Hashable = None) -> Any:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[(channel_id, kind, key)] = (value, time.monotonic() + self.ttl_s)
        return value

    def forget(self, channel_id: int | None = None, kind: str | None = None) -> None:
        if channel_id is None and kind is None:
            self._entries.clear()
            return
        self._entries = {k: v for k, v in self._entries.items() if not (
            (channel_id is None or k[0] == channel_id) and (kind is None or k[1] == kind))}
