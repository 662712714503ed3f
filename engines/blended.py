"""`BlendedEngine`: makes one reply for a channel according to its blend mode.

A mode is an object with `generate` and `stream`; the draw-one modes (`single`, `uniform`,
`weighted`) pick one model per reply with a selection policy. Modes that need several
candidates (`best_of_n`, `fuse`, `learned`) register the same way.

Failover: when the drawn model fails (an error, a timeout, a stream that breaks before its
first word) the mode draws again among the remaining healthy members, and the reply records
which models failed first. Each model has a circuit breaker (`engines.health`) and its own
fair, bounded queue (`engines.gate`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from .base import ChatModel, Conversation, Generation, ModelError, SamplingParams
from .gate import BusyError, FairGate
from .health import BreakerConfig, HealthBoard, ModelHealth
from .policies import (
    ALL_MODES,
    DRAW_ONE_POLICIES,
    BlendError,
    BlendSettings,
    SelectionPolicy,
    effective_weights,
)

if TYPE_CHECKING:
    from .ranked import RankedOptions, RankerSource

log = logging.getLogger(__name__)
PROBE_CHANNEL = "\x00probe"  # the fair-turn key of health probes


class UnsupportedModeError(BlendError):
    """A mode that does not exist, or is not available in this build."""


class AllModelsDownError(ModelError):
    """No member of the blend could answer: all failed, or are benched."""


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    channel: str  # fair-turn key: one queue per channel; also the backend's KV-cache key
    conversation: Conversation
    blend: BlendSettings
    params: SamplingParams = field(default_factory=SamplingParams)


class Mode(Protocol):
    async def generate(self, engine: BlendedEngine, request: ReplyRequest) -> Generation: ...

    def stream(
        self, engine: BlendedEngine, request: ReplyRequest
    ) -> AsyncIterator[str | Generation]: ...


class Attempts:
    """One reply's draws: the members tried so far and how each one let the reply down."""

    def __init__(self, engine: BlendedEngine, policy: SelectionPolicy, request: ReplyRequest):
        self.engine = engine
        self.policy = policy
        self.request = request
        self.failed: list[str] = []
        self.errors: list[BaseException] = []
        self.busy: list[str] = []

    def next_model(self) -> ChatModel:
        """The next member to try; raises when none is left.

        Busy members win (the user is asked to retry); when the only member that could answer
        failed, its own (user-safe) message is kept.
        """
        try:
            return self.engine.draw(
                self.policy, self.request.blend, exclude=(*self.failed, *self.busy)
            )
        except AllModelsDownError:
            if self.busy:
                raise BusyError(", ".join(self.busy)) from None
            resting = [h for h in self.engine.health()
                       if not h.available and h.model_id not in self.failed]
            if len(self.errors) == 1 and isinstance(self.errors[0], ModelError) and not resting:
                raise AllModelsDownError(str(self.errors[0])) from self.errors[0]
            raise

    def was_busy(self, model: ChatModel, error: BusyError) -> None:
        log.info("model %s is busy (%s queue full); trying another", model.id, error.queue)
        self.busy.append(model.id)

    def failed_with(self, model: ChatModel, error: BaseException, *, started: bool) -> None:
        self.engine.record_failure(model, error, started=started)
        self.failed.append(model.id)
        self.errors.append(error)

    def succeeded(self, model: ChatModel, generation: Generation) -> Generation:
        self.engine.record_success(model)
        if self.failed:
            log.warning("reply for %s answered by %s after failover from %s",
                        self.request.channel, model.id, ", ".join(self.failed))
            generation = replace(generation, failed_over_from=tuple(self.failed))
        return generation


class DrawOneMode:
    """One model per reply, chosen by a selection policy; it answers from the whole history.

    When the chosen model fails before writing anything, another member is drawn the same way
    from the healthy rest; a model that fails mid-stream ends the reply with an error.
    """

    def __init__(self, policy: SelectionPolicy) -> None:
        self.policy = policy

    async def generate(self, engine: BlendedEngine, request: ReplyRequest) -> Generation:
        attempts = Attempts(engine, self.policy, request)
        while True:
            model = attempts.next_model()
            try:
                async with engine.turn(model, request.channel):
                    generation = await model.generate(
                        request.conversation, request.params, channel=request.channel
                    )
            except BusyError as exc:
                attempts.was_busy(model, exc)
            except Exception as exc:
                attempts.failed_with(model, exc, started=False)
            else:
                return attempts.succeeded(model, generation)

    async def stream(
        self, engine: BlendedEngine, request: ReplyRequest
    ) -> AsyncIterator[str | Generation]:
        attempts = Attempts(engine, self.policy, request)
        while True:
            model = attempts.next_model()
            started = False  # once the user has seen text, another model cannot take over
            try:
                async with engine.turn(model, request.channel):
                    async for item in model.stream(
                        request.conversation, request.params, channel=request.channel
                    ):
                        if isinstance(item, Generation):
                            item = attempts.succeeded(model, item)
                        elif item:
                            started = True
                        yield item
                return
            except BusyError as exc:
                attempts.was_busy(model, exc)
            except Exception as exc:
                attempts.failed_with(model, exc, started=started)
                if started:
                    if isinstance(exc, ModelError):
                        raise
                    raise ModelError(f"model '{model.id}' stopped in the middle of its reply"
                                     ) from exc


def default_modes(ranker: RankerSource | None = None,
                  ranked: RankedOptions | None = None) -> dict[str, Mode]:
    """The draw-one modes, and `best_of_n` and `fuse` when there is a ranker."""
    modes: dict[str, Mode] = {
        name: DrawOneMode(policy) for name, policy in DRAW_ONE_POLICIES.items()}
    if ranker is not None:
        from .ranked import ranked_modes

        modes.update(ranked_modes(ranker, ranked))
    return modes


class BlendedEngine:
    def __init__(
        self,
        models: Sequence[ChatModel],
        default_weights: Mapping[str, float] | None = None,
        gate: FairGate | None = None,
        seed: int | None = None,
        modes: Mapping[str, Mode] | None = None,
        breaker: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        ranker: RankerSource | None = None,
        ranked: RankedOptions | None = None,
    ) -> None:
        if not models:
            raise BlendError("no models configured")
        self.models: dict[str, ChatModel] = {m.id: m for m in models}
        self.default_weights = dict(default_weights or {m.id: 1.0 for m in models})
        self.gate = gate or FairGate()  # process-wide: local generations
        self.queues = {  # per model: its own fair, bounded queue
            m.id: FairGate(m.max_parallel, m.max_queue, name=m.id) for m in models
        }
        self.rng = random.Random(seed)
        self.modes: dict[str, Mode] = (dict(modes) if modes is not None
                                       else default_modes(ranker, ranked))
        self.health_board = HealthBoard(self.models, breaker, clock)
        self._probes: set[asyncio.Task[None]] = set()

    @property
    def model_ids(self) -> list[str]:
        return list(self.models)

    def available_members(self) -> list[str]:
        """Models that may answer now (not benched), in configured order; starts due probes."""
        self._start_due_probes()
        return [m for m in self.model_ids if self.health_board.available(m)]

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

    def draw(
        self, policy: SelectionPolicy, blend: BlendSettings, exclude: Collection[str] = ()
    ) -> ChatModel:
        """One draw for one reply among the healthy members not in `exclude`.

        The remaining members keep their weights; `single` falls back to the first remaining
        configured model when its own model is out. Raises `AllModelsDownError` when no member
        is left.
        """
        self._start_due_probes()
        ids = [m for m in self.model_ids if m not in exclude and self.health_board.available(m)]
        if ids:
            defaults = {m: w for m, w in self.default_weights.items() if m in ids}
            weights = {m: w for m, w in blend.weights.items() if m in ids}
            if blend.weights and not weights:
                weights = dict.fromkeys(ids, 0.0)  # the channel's members are all out
            narrowed = replace(
                blend,
                model_id=blend.model_id if blend.model_id in ids else None,
                weights=weights,
            )
            try:
                return self.models[policy.choose(ids, narrowed, defaults, self.rng)]
            except BlendError:
                pass  # no member with a positive weight is left
        raise AllModelsDownError(self._down_message(exclude))

    def _down_message(self, tried: Collection[str]) -> str:
        benched = [h.model_id for h in self.health() if not h.available and h.model_id not in tried]
        parts = [f"tried {', '.join(tried)}"] if tried else []
        if benched:
            parts.append(f"resting after errors: {', '.join(benched)}")
        detail = f" ({'; '.join(parts)})" if parts else ""
        return f"none of this channel's models can answer right now{detail}"

    @asynccontextmanager
    async def turn(self, model: ChatModel, channel: str) -> AsyncIterator[None]:
        """A fair turn in the model's own queue, then on the local gate for local models."""
        async with self.queues[model.id].turn(channel):
            if model.is_local:
                async with self.gate.turn(channel):
                    yield
            else:
                yield

    # -- health ---------------------------------------------------------------------------

    def health(self) -> list[ModelHealth]:
        """Each model's health now (healthy, failing, benched or being probed)."""
        return self.health_board.snapshot()

    async def check_health(self, *, include_local: bool = False) -> list[ModelHealth]:
        """Probe the remote models (and local ones with `include_local`) now; their health."""
        targets = [m for m in self.models.values() if include_local or not m.is_local]
        results = await asyncio.gather(*(self._probe(m) for m in targets))
        for model, error in zip(targets, results, strict=True):
            if error is None:
                self.record_success(model)
            else:
                self.record_failure(model, error, started=False)
        return self.health()

    async def wait_probes(self) -> None:
        """Wait until the health probes running now have finished."""
        await asyncio.gather(*self._probes, return_exceptions=True)

    def record_success(self, model: ChatModel) -> None:
        self.health_board.record_success(model.id)

    def record_failure(self, model: ChatModel, error: BaseException, *, started: bool) -> None:
        benched = self.health_board.record_failure(model.id, error)
        where = "mid-reply" if started else "before replying"
        expected = isinstance(error, ModelError | TimeoutError)  # its message says it all
        log.warning("model %s failed %s: %s%s", model.id, where, str(error) or type(error).__name__,
                    f"; benched for {self.health_board.config.bench_s:g}s" if benched else "",
                    exc_info=None if expected and not log.isEnabledFor(logging.DEBUG) else error)

    def _start_due_probes(self) -> None:
        for model_id in self.health_board.due_probes():
            task = asyncio.get_running_loop().create_task(self._probe_benched(model_id))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def _probe_benched(self, model_id: str) -> None:
        error = await self._probe(self.models[model_id])
        self.health_board.probe_finished(model_id, error)
        if error is None:
            log.warning("model %s answered its probe and is back in the blend", model_id)
        else:
            log.warning("model %s failed its probe (%s); benched again", model_id, error)

    async def _probe(self, model: ChatModel) -> BaseException | None:
        timeout = self.health_board.config.probe_timeout_s
        try:
            async with self.turn(model, PROBE_CHANNEL):
                await asyncio.wait_for(model.probe(), timeout)
        except TimeoutError:
            return ModelError(f"model '{model.id}' did not answer a probe within {timeout:g}s")
        except Exception as exc:
            return exc
        return None

    # -- replies --------------------------------------------------------------------------

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
        for task in list(self._probes):
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)
        for model in self.models.values():
            await model.close()
