"""`BlendedEngine`: makes one reply for a channel according to its blend mode.

The engine holds the blend's members: the models, a circuit breaker for each
(`engines.health`), each model's own fair, bounded queue and the process-wide gate for local
work (`engines.gate`). It is the `Members` its modes use (`engines.request`). The draw-one
modes (`single`, `uniform`, `weighted`, `learned`; `engines.draw_one`) pick one model per
reply with a selection policy and fail over to another member; `best_of_n` and `fuse`
(`engines.ranked`) need a ranker. `engines.modes` lists them all.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace

from .bandit import BanditConfig
from .base import ChatModel, Generation, ModelError
from .draw_one import DrawOneMode
from .gate import FairGate
from .health import BreakerConfig, HealthBoard, ModelHealth
from .modes import MODE_NAMES
from .observe import EngineObserver, NoObserver
from .policies import (
    DRAW_ONE_POLICIES,
    BlendError,
    BlendSettings,
    LearnedPolicy,
    SelectionPolicy,
    effective_weights,
)
from .ranked import RankedOptions, RankerSource, ranked_modes
from .request import AllModelsDownError, Mode, ReplyRequest, UnsupportedModeError

log = logging.getLogger(__name__)
PROBE_CHANNEL = "\x00probe"  # the fair-turn key of health probes


def default_modes(ranker: RankerSource | None = None,
                  ranked: RankedOptions | None = None,
                  bandit: BanditConfig | None = None) -> dict[str, Mode]:
    """The draw-one modes (`learned` with `bandit`'s floor and prior), and `best_of_n` and
    `fuse` when there is a ranker."""
    modes: dict[str, Mode] = {
        name: DrawOneMode(policy) for name, policy in DRAW_ONE_POLICIES.items()}
    if bandit is not None:
        modes["learned"] = DrawOneMode(LearnedPolicy(bandit))
    if ranker is not None:
        modes.update(ranked_modes(ranker, ranked))
    return modes


def in_registry_order(modes: Mapping[str, Mode]) -> dict[str, Mode]:
    """`modes` in the order of `engines.modes.MODES`; a name not listed there is an error."""
    unlisted = sorted(set(modes) - set(MODE_NAMES))
    if unlisted:
        raise UnsupportedModeError(
            f"mode '{unlisted[0]}' is not in engines.modes.MODES ({', '.join(MODE_NAMES)})")
    return {name: modes[name] for name in MODE_NAMES if name in modes}


class BlendedEngine:
    """Replies for channels from a blend of models, and the `Members` its modes use.

    `modes` are the modes this engine can serve, in `engines.modes.MODES` order: the draw-one
    modes always, `best_of_n` and `fuse` only with a `ranker`.
    """

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
        observer: EngineObserver | None = None,
        bandit: BanditConfig | None = None,
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
        self.modes: dict[str, Mode] = in_registry_order(
            modes if modes is not None else default_modes(ranker, ranked, bandit))  # served
        self.bandit = bandit or BanditConfig()
        self.health_board = HealthBoard(self.models, breaker, clock)
        self._probes: set[asyncio.Task[None]] = set()
        self.observer: EngineObserver = observer or NoObserver()

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
            if blend.mode in MODE_NAMES:
                raise UnsupportedModeError(
                    f"mode '{blend.mode}' is not available here "
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

    def cpu_turn(self, channel: str) -> AbstractAsyncContextManager[None]:
        """A fair turn on the local gate for CPU work that is not a generation (ranking)."""
        return self.gate.turn(channel)

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
        self.observer.model_failed(model.id)
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
        started = time.perf_counter()
        generation = await mode.generate(self, request)
        took = time.perf_counter() - started
        self.observer.replied(generation, took, took)
        return generation

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str | Generation]:
        mode, request = self._prepare(request)
        started = time.perf_counter()
        first: float | None = None
        async for item in mode.stream(self, request):
            if isinstance(item, Generation):
                took = time.perf_counter() - started
                self.observer.replied(item, took if first is None else first, took)
            elif item and first is None:
                first = time.perf_counter() - started
            yield item

    async def close(self) -> None:
        for task in list(self._probes):
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)
        for model in self.models.values():
            await model.close()
