"""What the engine tells an observer (the service's metrics): replies and model failures.

The engine knows when a reply's first word arrived, which model wrote it and which failed
first; an observer turns that into numbers. It never sees a channel or a message.
"""

from __future__ import annotations

from typing import Protocol

from .base import Generation


class EngineObserver(Protocol):
    def replied(self, generation: Generation, first_token_s: float, total_s: float) -> None:
        """A reply is finished: its first text came after `first_token_s`, all of it after
        `total_s` (queue waits and failovers included, as the user waited)."""
        ...

    def model_failed(self, model_id: str) -> None:
        """A model failed a request (the reply may still come from another member)."""
        ...


class NoObserver:
    def replied(self, generation: Generation, first_token_s: float, total_s: float) -> None:
        pass

    def model_failed(self, model_id: str) -> None:
        pass
