"""What a mode works with: the request for one reply, and the blend members it may use.

A `Mode` makes one reply from a `ReplyRequest`. It sees the blend only through `Members`
(draw a member, take a fair turn, report how the member did), never the whole engine, so
a mode can be written and tested against a small fake. `BlendedEngine` is the real
`Members`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from .base import ChatModel, Conversation, Generation, ModelError, SamplingParams
from .policies import BlendError, BlendSettings, SelectionPolicy


class UnsupportedModeError(BlendError):
    """A mode that does not exist, or that this engine cannot serve."""


class AllModelsDownError(ModelError):
    """No member of the blend could answer: all failed, or are benched."""


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    channel: str  # fair-turn key: one queue per channel; also the backend's KV-cache key
    conversation: Conversation
    blend: BlendSettings
    params: SamplingParams = field(default_factory=SamplingParams)
    # members to use only when no other can answer (a redraw, a model over its spend cap)
    avoid: tuple[str, ...] = ()


class Members(Protocol):
    """The blend's models, as a mode may use them."""

    @property
    def models(self) -> Mapping[str, ChatModel]:
        """Every configured model by id, in configured order."""
        ...

    def available_members(self) -> list[str]:
        """Ids of the models that may answer now (not benched), in configured order."""
        ...

    def draw(
        self, policy: SelectionPolicy, blend: BlendSettings, exclude: Collection[str] = ()
    ) -> ChatModel:
        """One healthy member not in `exclude`, chosen by `policy`; `AllModelsDownError` when
        none is left."""
        ...

    def turn(self, model: ChatModel, channel: str) -> AbstractAsyncContextManager[None]:
        """A fair turn for `channel` to use `model` (`BusyError` when its queue is full)."""
        ...

    def cpu_turn(self, channel: str) -> AbstractAsyncContextManager[None]:
        """A fair turn on the process-wide CPU gate, for local work that is not a
        generation (ranking)."""
        ...

    def record_success(self, model: ChatModel) -> None: ...

    def record_failure(self, model: ChatModel, error: BaseException, *, started: bool) -> None:
        """Count a failure toward `model`'s circuit breaker; `started`: mid-reply."""
        ...


class Mode(Protocol):
    """How a reply is made (see `engines.modes` for the list)."""

    async def generate(self, members: Members, request: ReplyRequest) -> Generation: ...

    def stream(
        self, members: Members, request: ReplyRequest
    ) -> AsyncIterator[str | Generation]: ...
