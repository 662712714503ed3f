"""The plain data the store hands out: a channel's state, a stored message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


class DuplicateMessage(Exception):
    """A platform message that is stored already (a redelivery)."""


@dataclass(frozen=True, slots=True)
class ChannelState:
    id: int
    community_id: int
    platform: str
    external_id: str
    name: str
    mode: str | None
    model_id: str | None
    weights: dict[str, float] | None
    persona: str | None
    lorebook_id: int | None = None
    reset_after_id: int | None = None
    answer_all: bool = False
    disclose: bool = False


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: str
    text: str
    created_at: datetime
    author: str | None = None  # display name for user turns
    model_id: str | None = None
    mode: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    user_id: int | None = None  # the stored user who wrote it (user turns)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "author": self.author,
            "model_id": self.model_id,
            "mode": self.mode,
            "text": self.text,
            "time": self.created_at.isoformat(),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_ms": self.latency_ms,
        }
