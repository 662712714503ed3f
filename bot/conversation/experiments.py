"""Experiments in the core: an arm spec (`blend=uniform`, `solo=single:gemma3-270m`,
`big=gemma3-270m`) checked against the engine, the stable hash that puts a user in an arm,
and the blend each user's replies get while an experiment runs in their community.

A user is assigned on first sight (the first turn that builds a reply for them after the
experiment started), by a hash of (experiment, platform, user): the same user lands in the
same arm in every process and channel, and an assignment once stored never changes. The
running experiment of a community is believed for a few seconds (another process may have
started or stopped one meanwhile); an assignment is remembered for good.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from engines import BlendedEngine, BlendError, BlendSettings

from ..storage import ChannelState, Store
from ..storage.experiments import ArmSpec, Experiment, Experiments
from .inbound import InboundEvent

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ARM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
MAX_ARMS = 8


class ExperimentInputError(ValueError):
    """An arm list or name that cannot be run; the message is one line for the admin."""


def parse_arms(specs: Sequence[str], engine: BlendedEngine) -> list[ArmSpec]:
    """`arm=mode`, `arm=single:model` or `arm=model` each, checked against what `engine`
    serves (`ExperimentInputError` says what is wrong)."""
    arms: list[ArmSpec] = []
    for spec in specs:
        name, eq, value = spec.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise ExperimentInputError(f"'{spec}' is not arm=mode-or-model "
                                       "(e.g. blend=uniform solo=single:gemma3-270m)")
        if not ARM.match(name):
            raise ExperimentInputError(f"arm name '{name[:40]}' must be letters, digits, "
                                       "- _ . (at most 32)")
        if any(a.arm == name for a in arms):
            raise ExperimentInputError(f"arm '{name}' is named twice")
        arms.append(_arm(name, value, engine))
    if len(arms) < 2:
        raise ExperimentInputError("an experiment needs at least two arms")
    if len(arms) > MAX_ARMS:
        raise ExperimentInputError(f"at most {MAX_ARMS} arms")
    return arms


def _arm(name: str, value: str, engine: BlendedEngine) -> ArmSpec:
    mode, _, model = value.partition(":")
    if not model and mode in engine.models:  # a bare model id: that model alone
        mode, model = "single", value
    if mode == "single" and not model:
        model = engine.model_ids[0]
    arm = ArmSpec(name, mode, model or None)
    try:
        if model and mode != "single":
            raise BlendError("only single takes a model")
        engine.check(blend_of(arm))
    except BlendError:
        raise ExperimentInputError(
            f"arm {name}: unknown or unavailable mode or model '{value[:60]}' (modes: "
            f"{', '.join(engine.modes)}; models: {', '.join(engine.model_ids)}; "
            "or single:<model>)") from None
    return arm


def blend_of(arm: ArmSpec) -> BlendSettings:
    return BlendSettings(mode=arm.mode or "uniform",
                         model_id=arm.model if arm.mode == "single" else None)


def arm_index(experiment: str, platform: str, user: str, arms: int) -> int:
    """The arm (its index) a user is put in: a stable hash, the same in every process."""
    digest = hashlib.sha256(f"{experiment}\x00{platform}\x00{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % arms


@dataclass(slots=True)
class _Running:
    experiment: Experiment | None
    until: float


class ExperimentArms:
    """Which blend a user's reply gets while their community runs an experiment."""

    RUNNING_TTL_S = 5.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self.table = Experiments(store)
        self._running: dict[int, _Running] = {}
        self._arms: dict[tuple[int, int], str] = {}  # (experiment, user) -> arm

    async def running(self, community_id: int) -> Experiment | None:
        hit = self._running.get(community_id)
        now = time.monotonic()
        if hit is not None and hit.until > now:
            return hit.experiment
        found = await self.table.running(community_id)
        if len(self._running) > 10_000:
            self._running.clear()
        self._running[community_id] = _Running(found, now + self.RUNNING_TTL_S)
        return found

    def forget(self, community_id: int) -> None:
        """An experiment was started or stopped here: read it again."""
        self._running.pop(community_id, None)

    async def arm_for(self, channel: ChannelState, event: InboundEvent
                      ) -> tuple[Experiment, ArmSpec] | None:
        """The running experiment and the user's arm in it (assigned now if this is their
        first sight); None when the community runs none."""
        experiment = await self.running(channel.community_id)
        if experiment is None:
            return None
        user_id = await self.store.ensure_user(event.platform, event.user_id, event.user_name)
        key = (experiment.id, user_id)
        name = self._arms.get(key)
        if name is None:
            index = arm_index(experiment.name, event.platform, event.user_id,
                              len(experiment.arms))
            name = await self.table.assign(experiment.id, user_id, channel.id,
                                           experiment.arms[index].arm)
            if len(self._arms) > 100_000:
                self._arms.clear()
            self._arms[key] = name
        arm = next((a for a in experiment.arms if a.arm == name), experiment.arms[0])
        return experiment, arm

    async def blend_for(self, channel: ChannelState, event: InboundEvent
                        ) -> BlendSettings | None:
        found = await self.arm_for(channel, event)
        return blend_of(found[1]) if found else None
