"""User messages that could not be stored (the database was away), kept in memory until the
channel's next turn stores them in order."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime

from ..storage.tables import utcnow
from .inbound import InboundEvent

MAX_PER_CHANNEL = 50


@dataclass(frozen=True, slots=True)
class Kept:
    event: InboundEvent
    at: datetime = field(default_factory=utcnow)


class PendingMessages:
    def __init__(self) -> None:
        self._kept: defaultdict[str, deque[Kept]] = defaultdict(
            lambda: deque(maxlen=MAX_PER_CHANNEL))

    def keep(self, event: InboundEvent, at: datetime | None = None) -> None:
        self._kept[f"{event.platform}:{event.channel_id}"].append(Kept(event, at or utcnow()))

    def has(self, key: str, message_id: str) -> bool:
        return any(k.event.message_id == message_id for k in self._kept.get(key, ()))

    def take(self, key: str) -> list[Kept]:
        """The channel's kept messages, oldest first; they are no longer kept."""
        kept = self._kept.pop(key, None)
        return list(kept) if kept else []
