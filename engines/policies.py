"""Selection policies: which model answers the next reply."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .bandit import Arm, BanditConfig, choose


class BlendError(ValueError):
    """A blend setting that cannot work (unknown model, no positive weight...)."""


@dataclass(frozen=True, slots=True)
class BlendSettings:
    """How one channel draws its replies."""

    mode: str = "uniform"
    model_id: str | None = None  # the one model of `single`
    weights: Mapping[str, float] = field(default_factory=dict)  # `weighted`; empty: defaults
    arms: Mapping[str, Arm] = field(default_factory=dict)  # `learned`: the community's evidence


class SelectionPolicy(Protocol):
    def choose(
        self,
        model_ids: Sequence[str],
        blend: BlendSettings,
        default_weights: Mapping[str, float],
        rng: random.Random,
    ) -> str: ...


class SinglePolicy:
    """Always the channel's named model (default: the first configured)."""

    def choose(self, model_ids: Sequence[str], blend: BlendSettings,
               default_weights: Mapping[str, float], rng: random.Random) -> str:
        if blend.model_id is None:
            return model_ids[0]
        if blend.model_id not in model_ids:
            raise BlendError(
                f"unknown model '{blend.model_id}' (choose from {', '.join(model_ids)})"
            )
        return blend.model_id


class UniformPolicy:
    """The paper's blend: each model with probability 1/N, drawn per reply."""

    def choose(self, model_ids: Sequence[str], blend: BlendSettings,
               default_weights: Mapping[str, float], rng: random.Random) -> str:
        return rng.choice(list(model_ids))


class WeightedPolicy:
    """Draw with the channel's weights, else each model's configured default weight."""

    def choose(self, model_ids: Sequence[str], blend: BlendSettings,
               default_weights: Mapping[str, float], rng: random.Random) -> str:
        weights = effective_weights(model_ids, blend.weights or default_weights)
        ids = list(weights)
        return rng.choices(ids, weights=[weights[i] for i in ids])[0]


class LearnedPolicy:
    """`learned`: discounted Thompson sampling over the healthy members, each keeping at least
    `min_share` of the replies (`engines.bandit`); the evidence comes in `blend.arms`."""

    def __init__(self, config: BanditConfig | None = None) -> None:
        self.config = config or BanditConfig()

    def choose(self, model_ids: Sequence[str], blend: BlendSettings,
               default_weights: Mapping[str, float], rng: random.Random) -> str:
        return choose(list(model_ids), blend.arms, self.config, rng)


def effective_weights(
    model_ids: Sequence[str], weights: Mapping[str, float]
) -> dict[str, float]:
    """Weights over the configured models; missing models weigh 0; at least one must be > 0."""
    unknown = sorted(set(weights) - set(model_ids))
    if unknown:
        raise BlendError(
            f"unknown model '{unknown[0]}' in weights (choose from {', '.join(model_ids)})"
        )
    result = {m: float(weights.get(m, 0.0)) for m in model_ids}
    if any(w < 0 for w in result.values()):
        raise BlendError("weights must not be negative")
    result = {m: w for m, w in result.items() if w > 0}
    if not result:
        raise BlendError("at least one model needs a weight above 0")
    return result


def parse_weights(spec: str) -> dict[str, float]:
    """`smollm2-135m=2,gemma3-270m=1` -> {'smollm2-135m': 2.0, 'gemma3-270m': 1.0}."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise BlendError(
                f"bad weight '{part}': write MODEL=NUMBER, e.g. smollm2-135m=2,gemma3-270m=1"
            ) from None
    if not weights:
        raise BlendError("no weights given: write MODEL=NUMBER, e.g. smollm2-135m=2,gemma3-270m=1")
    return weights


DRAW_ONE_POLICIES: dict[str, SelectionPolicy] = {
    "single": SinglePolicy(),
    "uniform": UniformPolicy(),
    "weighted": WeightedPolicy(),
    "learned": LearnedPolicy(),
}
