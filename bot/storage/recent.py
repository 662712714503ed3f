"""The recent history of busy channels, kept in memory in step with this process's writes,
so a turn does not read the whole conversation back from the database."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .store_types import StoredMessage

MAX_CHANNELS = 2_000


@dataclass(slots=True)
class _Entry:
    messages: list[StoredMessage]  # oldest first, since the channel's last reset
    limit: int | None  # how many were read (None: all)
    expires: float


class RecentHistory:
    """Per channel id. Writes of other processes (or of an import) show after `ttl_s`, or
    sooner: the next message stored here finds them (`Store.add_message`)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[int, _Entry] = {}

    def get(self, channel_id: int, limit: int | None) -> list[StoredMessage] | None:
        entry = self._entries.get(channel_id)
        if entry is None or entry.expires < time.monotonic():
            return None
        if entry.limit is not None and (limit is None or limit > entry.limit):
            return None  # fewer kept than asked for
        return entry.messages[-limit:] if limit is not None else list(entry.messages)

    def put(self, channel_id: int, messages: list[StoredMessage], limit: int | None) -> None:
        if len(self._entries) >= MAX_CHANNELS:
            oldest = min(self._entries, key=lambda k: self._entries[k].expires)
            del self._entries[oldest]
        self._entries[channel_id] = _Entry(list(messages), limit,
                                           time.monotonic() + self.ttl_s)

    def newest(self, channel_id: int) -> int | None:
        """The id of the newest message kept for the channel (None: nothing kept; an entry
        with no message is dropped, as it cannot be checked against the database)."""
        entry = self._entries.get(channel_id)
        if entry is None or entry.expires < time.monotonic():
            return None
        if not entry.messages:
            del self._entries[channel_id]
            return None
        return entry.messages[-1].id

    def append(self, channel_id: int, message: StoredMessage) -> None:
        entry = self._entries.get(channel_id)
        if entry is None:
            return
        entry.messages.append(message)
        if entry.limit is not None and len(entry.messages) > entry.limit:
            del entry.messages[: len(entry.messages) - entry.limit]

    def forget(self, channel_id: int | None = None) -> None:
        """Read this channel (or every channel) from the database next time."""
        if channel_id is None:
            self._entries.clear()
        else:
            self._entries.pop(channel_id, None)
