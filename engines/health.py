"""Model health for failover: a circuit breaker per model.

A model that fails `failures` times in a row is benched for `bench_s` seconds. When the bench
time is over it is probed (one small real request) and returns to the blend only when the
probe succeeds; a failed probe benches it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

HealthState = Literal["healthy", "failing", "benched", "probing", "unchecked"]


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """K consecutive failures bench a model for T seconds; probes give up after a timeout."""

    failures: int = 3
    bench_s: float = 30.0
    probe_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """What `blendbot models` shows for one model."""

    model_id: str
    state: HealthState
    consecutive_failures: int
    benched_until: datetime | None = None
    last_error: str | None = None

    @property
    def available(self) -> bool:
        """Whether the engine may draw this model now."""
        return self.state in ("healthy", "failing")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.model_id,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "benched_until": self.benched_until.isoformat() if self.benched_until else None,
            "last_error": self.last_error,
        }


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    benched_until: float | None = None  # on the board's clock
    probing: bool = False
    last_error: str | None = None


class HealthBoard:
    """Circuit breakers for a set of models, on an injectable monotonic clock."""

    def __init__(
        self,
        model_ids: Iterable[str],
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or BreakerConfig()
        self.clock = clock
        self._breakers = {model_id: _Breaker() for model_id in model_ids}

    def available(self, model_id: str) -> bool:
        """Not benched (a model being probed is still out)."""
        return self._breakers[model_id].benched_until is None

    def record_success(self, model_id: str) -> None:
        b = self._breakers[model_id]
        b.failures, b.benched_until, b.last_error = 0, None, None

    def record_failure(self, model_id: str, error: BaseException) -> bool:
        """Count one failure; True when this failure benched the model."""
        b = self._breakers[model_id]
        b.failures += 1
        b.last_error = _describe(error)
        if b.benched_until is None and b.failures >= self.config.failures:
            b.benched_until = self.clock() + self.config.bench_s
            return True
        return False

    def due_probes(self) -> list[str]:
        """Benched models whose time is up and that no probe is checking yet; marks them."""
        now = self.clock()
        due = [
            model_id
            for model_id, b in self._breakers.items()
            if b.benched_until is not None and not b.probing and now >= b.benched_until
        ]
        for model_id in due:
            self._breakers[model_id].probing = True
        return due

    def probe_finished(self, model_id: str, error: BaseException | None) -> None:
        """A probe's outcome: back in the blend, or benched for another term."""
        b = self._breakers[model_id]
        b.probing = False
        if error is None:
            self.record_success(model_id)
        else:
            b.last_error = _describe(error)
            b.failures += 1
            b.benched_until = self.clock() + self.config.bench_s

    def snapshot(self) -> list[ModelHealth]:
        """Every model's health, in configuration order."""
        now_mono, now_wall = self.clock(), datetime.now(UTC)
        result = []
        for model_id, b in self._breakers.items():
            until = None
            if b.benched_until is not None:
                until = now_wall + timedelta(seconds=max(0.0, b.benched_until - now_mono))
            state: HealthState
            if b.probing:
                state = "probing"
            elif b.benched_until is not None:
                state = "benched"
            else:
                state = "failing" if b.failures else "healthy"
            result.append(ModelHealth(model_id, state, b.failures, until, b.last_error))
        return result


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
