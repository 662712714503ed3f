"""A community's report read from its rollup tables (kept current by `Rollups.catch_up`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from threadpoolctl import threadpool_limits

from bot.analytics import AnalysisOptions, Report
from bot.analytics.daily import ALL
from bot.analytics.from_days import ModelDays, Period, UserDays, ranks, report_from_days

from .rollups import Rollups, community_zone
from .store import Store
from .tables import Community, RollupChannelDay, RollupReplyDay, RollupUserDay, User

USERS_PER_READ = 2_000  # user ids whose rows are read at a time: memory stays bounded


async def rollup_report(store: Store, platform: str, community: str, since: datetime,
                        until: datetime, options: AnalysisOptions | None = None) -> Report:
    """The report of [since, until) in whole days of the community's timezone."""
    opts = options or AnalysisOptions()
    async with store.session() as s:
        row = (await s.execute(select(Community.id, Community.report_timezone).where(
            Community.platform == platform, Community.external_id == community))).one()
    cid, tz_name = row
    await Rollups(store, opts).catch_up([cid])
    period = Period.around(since, until, community_zone(tz_name))
    async with store.session() as s:
        conn = await s.connection()
        users = list(await conn.execute(
            select(RollupUserDay.user_id, User.external_id).distinct()
            .join(User, User.id == RollupUserDay.user_id)
            .where(RollupUserDay.community_id == cid, RollupUserDay.scope == ALL)))
        rank_of = _rank_lookup([u for u, _ in users], [x for _, x in users])
        scopes = list(await conn.scalars(
            select(RollupUserDay.scope).distinct().where(RollupUserDay.community_id == cid)))
        days = {scope: await _scope_days(conn, cid, scope, period.end, rank_of)
                for scope in scopes}
        channels = dict((mode, n) for mode, n in await s.execute(
            select(RollupChannelDay.mode, func.count(func.distinct(RollupChannelDay.channel_id)))
            .where(RollupChannelDay.community_id == cid, RollupChannelDay.day >= period.first,
                   RollupChannelDay.day < period.end)
            .group_by(RollupChannelDay.mode)))
        last = RollupReplyDay.day == period.end - 1
        r = RollupReplyDay
        models = {model: ModelDays(*(int(x or 0) for x in sums)) for model, *sums in
                  await s.execute(
            select(r.model, func.sum(r.replies), func.sum(r.judged), func.sum(r.continued),
                   func.sum(case((last, r.late_judged), else_=0)),
                   func.sum(case((last, r.late_continued), else_=0)),
                   func.sum(r.thumbs_up), func.sum(r.thumbs_down), func.sum(r.regenerated))
            .where(r.community_id == cid, r.day >= period.first, r.day < period.end)
            .group_by(r.model))}
    modes = {scope.removeprefix("mode:"): (d, channels.get(scope.removeprefix("mode:"), 0))
             for scope, d in days.items() if scope != ALL}
    overall = days.get(ALL, UserDays.empty())

    def compute() -> Report:
        # numpy off the event loop, with one BLAS thread: the bootstrap's small products
        # run far slower when BLAS threads fight other work for the cores
        with threadpool_limits(limits=1, user_api="blas"):
            return report_from_days(community, period, overall, modes, models, opts)

    return await asyncio.to_thread(compute)


def _rank_lookup(uids: Sequence[int], exts: Sequence[str]) -> np.ndarray:
    """user id → the user's rank by external id (see `ranks`); -1 for unknown ids."""
    order = ranks(list(exts))
    lookup = np.full(max(uids, default=0) + 1, -1, dtype=np.int64)
    lookup[np.asarray(uids, dtype=np.int64)] = [order[x] for x in exts]
    return lookup


async def _scope_days(conn: AsyncConnection, cid: int, scope: str, end: int,
                      rank_of: np.ndarray) -> UserDays:
    """One scope's user-days before `end`, read a range of user ids at a time (a buffered
    query per range: far faster than a server-side cursor through aiosqlite)."""
    r = RollupUserDay
    query = (select(r.user_id, r.day, r.messages, r.sessions, r.minutes)
             .where(r.community_id == cid, r.scope == scope, r.day < end))
    parts = []
    for lo in range(0, rank_of.size, USERS_PER_READ):
        rows = (await conn.execute(query.where(r.user_id >= lo,
                                               r.user_id < lo + USERS_PER_READ))).all()
        if rows:
            parts.append(np.array([tuple(x) for x in rows], dtype=float))  # Rows are slow
    a = np.concatenate(parts) if parts else np.zeros((0, 5))
    ints = a[:, :4].astype(np.int64)
    return UserDays(rank_of[ints[:, 0]], ints[:, 1], ints[:, 2], ints[:, 3], a[:, 4])
