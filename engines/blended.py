"""`BlendedEngine`: makes one reply for a channel according to its blend mode.

A mode is an object with `generate` and `stream`; the draw-one modes (`single`, `uniform`,
`weighted`) pick one model per reply with a selection policy. Modes that need several
candidates (`best_of_n`, `fuse`, `learned`) register the same way.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Protocol

from .base import ChatModel, Conversation, Generation, SamplingParams
from .gate import FairGate
from .policies import (
    ALL_MODES,
    DRAW_ONE_POLICIES,
    BlendError,
    BlendSettings,
    SelectionPolicy,
    effective_weights,
)


class UnsupportedModeError(BlendError):
    """A mode that does not exist, or is not available in this build."""


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    channel: str  # fair-turn key: one queue per channel
    conversation: Conversation
    blend: BlendSettings
    params: SamplingParams = field(default_factory=SamplingParams)


class Mode(Protocol):
    async def generate(self, engine: BlendedEngine, request: ReplyRequest) -> Generation: ...

    def stream(
        self, engine: BlendedEngine, request: ReplyRequest
    ) -> AsyncIterator[str | Generation]: ...


class DrawOneMode:
    """One model per reply, chosen by a selection policy; it answers from the whole history."""

    def __init__(self, policy: SelectionPolicy) -> None:
        self.policy = policy

    async def generate(self, engine: BlendedEngine, request: ReplyRequest) -> Generation:
        model = engine.draw(self.policy, request.blend)
        async with engine.turn(model, request.channel):
            return await model.generate(request.conversation, request.params)

    async def stream(
        self, engine: BlendedEngine, request: ReplyRequest
    ) -> AsyncIterator[str | Generation]:
        model = engine.draw(self.policy, request.blend)
        async with engine.turn(model, request.channel):
            async for item in model.stream(request.conversation, request.params):
                yield item


def default_modes() -> dict[str, Mode]:
    return {name: DrawOneMode(policy) for name, policy in DRAW_ONE_POLICIES.items()}


class BlendedEngine:
    def __init__(
        self,
        models: Sequence[ChatModel],
        default_weights: Mapping[str, float] | None = None,
        gate: FairGate | None = None,
        seed: int | None = None,
        modes: Mapping[str, Mode] | None = None,
    ) -> None:
        if not models:
            raise BlendError("no models configured")
        self.models: dict[str, ChatModel] = {m.id: m for m in models}
        self.default_weights = dict(default_weights or {m.id: 1.0 for m in models})
        self.gate = gate or FairGate()
        self.rng = random.Random(seed)
        self.modes: dict[str, Mode] = dict(modes) if modes is not None else default_modes()

    @property
    def model_ids(self) -> list[str]:
        return list(self.models)

    def check(self, blend: BlendSettings) -> None:
        """Raise `BlendError` with a user-facing message if `blend` cannot be served."""
        if blend.mode not in self.modes:
            if blend.mode in ALL_MODES:
                raise UnsupportedModeError(
                    f"mode '{blend.mode}' is not available yet "
                    f"(available: {', '.join(self.modes)})"
                )
            raise UnsupportedModeError(
                f"unknown mode '{blend.mode}' (choose from {', '.join(self.modes)})"
            )
        if blend.model_id is not None and blend.model_id not in self.models:
            raise BlendError(
                f"unknown model '{blend.model_id}' (choose from {', '.join(self.models)})"
            )
        if blend.mode == "weighted":
            effective_weights(self.model_ids, blend.weights or self.default_weights)

    def draw(self, policy: SelectionPolicy, blend: BlendSettings) -> ChatModel:
        """One draw for one reply."""
        model_id = policy.choose(self.model_ids, blend, self.default_weights, self.rng)
        return self.models[model_id]

    def turn(self, model: ChatModel, channel: str) -> AbstractAsyncContextManager[None]:
        """A fair turn on the local-generation gate (remote models need none)."""
        return self.gate.turn(channel) if model.is_local else nullcontext()

    def _prepare(self, request: ReplyRequest) -> tuple[Mode, ReplyRequest]:
        self.check(request.blend)
        if request.params.seed is None:  # reproducible under a seeded engine
            request = replace(request, params=replace(request.params,
                                                      seed=self.rng.getrandbits(31)))
        return self.modes[request.blend.mode], request

    async def reply(self, request: ReplyRequest) -> Generation:
        mode, request = self._prepare(request)
        return await mode.generate(self, request)

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str | Generation]:
        mode, request = self._prepare(request)
        async for item in mode.stream(self, request):
            yield item

    async def close(self) -> None:
        for model in self.models.values():
            await model.close()
