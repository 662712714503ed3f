"""An experiment's reading from the database: its assignments and the community's per
user-day rollups (kept current by `Rollups.catch_up`)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import numpy as np
from sqlalchemy import select
from threadpoolctl import threadpool_limits

from bot.analytics import AnalysisOptions
from bot.analytics.daily import ALL, day_of
from bot.analytics.experiment import ExperimentResult, Members, read_experiment
from bot.analytics.from_days import Period, UserDays

from .experiments import Experiment, Experiments
from .rollup_read import _rank_lookup, _scope_days
from .rollups import Rollups, community_zone
from .store import Store
from .tables import Community, RollupUserDay, User, utcnow


class UnknownExperimentError(LookupError):
    """No experiment of that name in the community; the message lists the known ones."""


async def find_experiment(store: Store, platform: str, community: str, name: str
                          ) -> tuple[int, Experiment]:
    async with store.session() as s:
        cid = await s.scalar(select(Community.id).where(
            Community.platform == platform, Community.external_id == community))
    assert cid is not None
    experiments = await Experiments(store).all(cid)
    found = next((e for e in experiments if e.name == name), None)
    if found is None:
        known = ", ".join(e.name for e in experiments[:20]) or "none yet"
        raise UnknownExperimentError(f"no experiment '{name}' in {community} (known: {known})")
    return cid, found


async def experiment_report(store: Store, platform: str, community: str, name: str,
                            since: datetime | None = None, until: datetime | None = None,
                            options: AnalysisOptions | None = None) -> ExperimentResult:
    """The experiment over [since, until) in whole days of the community's timezone; by
    default from its start to its end (or now)."""
    opts = options or AnalysisOptions()
    cid, experiment = await find_experiment(store, platform, community, name)
    return await read_stored(store, cid, community, experiment, since, until, opts)


async def read_stored(store: Store, cid: int, community: str, experiment: Experiment,
                      since: datetime | None, until: datetime | None,
                      opts: AnalysisOptions) -> ExperimentResult:
    now = utcnow()
    until = until or min(experiment.ended_at or now, now)
    since = since or experiment.started_at
    async with store.session() as s:
        tz_name = await s.scalar(select(Community.report_timezone).where(Community.id == cid))
    await Rollups(store, opts).catch_up([cid])
    tz = community_zone(tz_name)
    period = Period.around(since, until, tz)
    members = await Experiments(store).members(experiment.id)
    names = [a.arm for a in experiment.arms]
    names += sorted({arm for _, arm, _ in members} - set(names))
    async with store.session() as s:
        conn = await s.connection()
        users = list(await conn.execute(
            select(RollupUserDay.user_id, User.external_id).distinct()
            .join(User, User.id == RollupUserDay.user_id)
            .where(RollupUserDay.community_id == cid, RollupUserDay.scope == ALL)))
        ids = [u for u, _ in users]
        rank_of = _rank_lookup(ids, [x for _, x in users])
        days = await _scope_days(conn, cid, ALL, period.end, rank_of) if users \
            else UserDays.empty()
    index = {n: i for i, n in enumerate(names)}
    known = [(u, a, t) for u, a, t in members if u < rank_of.size and rank_of[u] >= 0]
    arrays = Members(np.array([rank_of[u] for u, _, _ in known], dtype=np.int64),
                     np.array([index[a] for _, a, _ in known], dtype=np.int64),
                     np.array([day_of(t, tz) for _, _, t in known], dtype=np.int64))
    specs = {a.arm: (a.shown if a.mode else None) for a in experiment.arms}

    def compute() -> ExperimentResult:
        with threadpool_limits(limits=1, user_api="blas"):
            return read_experiment(experiment.name, community, period, days, arrays, names,
                                   specs, opts)

    return await asyncio.to_thread(compute)
