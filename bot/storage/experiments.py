"""A/B experiments and their assignments: which arm each user of a community is in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .store import Store
from .tables import Assignment, ExperimentRow, utcnow


class ExperimentNameTaken(ValueError):
    """The community already had an experiment of this name."""


@dataclass(frozen=True, slots=True)
class ArmSpec:
    """One arm: a name and the blend its users get (`mode`, and the model for `single`)."""

    arm: str
    mode: str | None  # None: imported, not known here
    model: str | None = None

    @property
    def shown(self) -> str:
        if self.mode is None:
            return "?"
        return f"{self.mode}:{self.model}" if self.mode == "single" and self.model else self.mode


@dataclass(frozen=True, slots=True)
class Experiment:
    id: int
    community_id: int
    name: str
    arms: tuple[ArmSpec, ...]
    started_at: datetime
    ends_at: datetime | None
    stopped_at: datetime | None

    def running(self, now: datetime) -> bool:
        return (self.stopped_at is None and (self.ends_at is None or self.ends_at > now)
                and all(a.mode is not None for a in self.arms))

    @property
    def ended_at(self) -> datetime | None:
        """When it stopped or will stop (None: runs until stopped)."""
        return self.stopped_at or self.ends_at


def _experiment(row: ExperimentRow) -> Experiment:
    arms = tuple(ArmSpec(a["arm"], a.get("mode"), a.get("model")) for a in row.arms)
    return Experiment(row.id, row.community_id, row.name, arms, row.started_at, row.ends_at,
                      row.stopped_at)


class Experiments:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def all(self, community_id: int) -> list[Experiment]:
        """The community's experiments, newest first."""
        async with self.store.session() as s:
            rows = (await s.scalars(select(ExperimentRow)
                                    .where(ExperimentRow.community_id == community_id)
                                    .order_by(ExperimentRow.started_at.desc(),
                                              ExperimentRow.id.desc()))).all()
        return [_experiment(r) for r in rows]

    async def running(self, community_id: int, now: datetime | None = None
                      ) -> Experiment | None:
        now = now or utcnow()
        return next((e for e in await self.all(community_id) if e.running(now)), None)

    async def find(self, community_id: int, name: str) -> Experiment | None:
        async with self.store.session() as s:
            row = await s.scalar(select(ExperimentRow).where(
                ExperimentRow.community_id == community_id, ExperimentRow.name == name))
        return _experiment(row) if row is not None else None

    async def start(self, community_id: int, name: str, arms: Sequence[ArmSpec],
                    ends_at: datetime | None, user_id: int | None,
                    at: datetime | None = None) -> Experiment:
        """A new experiment; `ExperimentNameTaken` if the community had one of that name."""
        row = ExperimentRow(community_id=community_id, name=name, started_by=user_id,
                            arms=[{"arm": a.arm, "mode": a.mode, "model": a.model}
                                  for a in arms],
                            started_at=at or utcnow(), ends_at=ends_at)
        async with self.store.session() as s:
            s.add(row)
            try:
                await s.commit()
            except IntegrityError:
                raise ExperimentNameTaken(name) from None
            await s.refresh(row)
            return _experiment(row)

    async def stop(self, experiment_id: int, at: datetime | None = None) -> None:
        async with self.store.session() as s:
            await s.execute(update(ExperimentRow).where(ExperimentRow.id == experiment_id)
                            .values(stopped_at=at or utcnow()))
            await s.commit()

    async def arm_of(self, experiment_id: int, user_id: int) -> str | None:
        async with self.store.session() as s:
            return await s.scalar(select(Assignment.arm).where(
                Assignment.experiment_id == experiment_id, Assignment.user_id == user_id))

    async def assign(self, experiment_id: int, user_id: int, channel_id: int, arm: str,
                     at: datetime | None = None) -> str:
        """The user's arm: `arm` if this is their first sight, else the one they have."""
        async with self.store.session() as s:
            s.add(Assignment(experiment_id=experiment_id, user_id=user_id,
                             channel_id=channel_id, arm=arm, created_at=at or utcnow()))
            try:
                await s.commit()
                return arm
            except IntegrityError:  # another turn of theirs got there first
                await s.rollback()
        return await self.arm_of(experiment_id, user_id) or arm

    async def counts(self, experiment_id: int) -> dict[str, int]:
        """Users per arm."""
        async with self.store.session() as s:
            rows = await s.execute(select(Assignment.arm, func.count())
                                   .where(Assignment.experiment_id == experiment_id)
                                   .group_by(Assignment.arm))
            return {arm: int(n) for arm, n in rows}

    async def members(self, experiment_id: int) -> list[tuple[int, str, datetime]]:
        """(user id, arm, when assigned) of every user in the experiment."""
        async with self.store.session() as s:
            rows = await s.execute(select(Assignment.user_id, Assignment.arm,
                                          Assignment.created_at)
                                   .where(Assignment.experiment_id == experiment_id))
            return [(u, a, t) for u, a, t in rows]
