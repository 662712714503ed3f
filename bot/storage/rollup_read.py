"""A community's report read from its rollup tables (kept current by `Rollups.catch_up`)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import case, func, select

from bot.analytics import AnalysisOptions, Report
from bot.analytics.daily import ALL
from bot.analytics.from_days import ModelDays, Period, UserDays, ranks, report_from_days

from .rollups import Rollups, community_zone
from .store import Store
from .tables import Community, RollupChannelDay, RollupReplyDay, RollupUserDay, User

PARTITION = 20_000  # rows fetched at a time


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
        ids = {uid: ext for uid, ext in await s.execute(
            select(RollupUserDay.user_id, User.external_id).distinct()
            .join(User, User.id == RollupUserDay.user_id)
            .where(RollupUserDay.community_id == cid, RollupUserDay.scope == ALL))}
        order = ranks(list(ids.values()))
        rank_of = {uid: order[ext] for uid, ext in ids.items()}
        scopes: dict[str, list[np.ndarray]] = {}
        result = await s.stream(
            select(RollupUserDay.scope, RollupUserDay.user_id, RollupUserDay.day,
                   RollupUserDay.messages, RollupUserDay.sessions, RollupUserDay.minutes)
            .where(RollupUserDay.community_id == cid, RollupUserDay.day < period.end))
        async for part in result.partitions(PARTITION):
            by_scope: dict[str, list[tuple[int, int, int, int, float]]] = {}
            for scope, uid, day, n, sessions, minutes in part:
                by_scope.setdefault(scope, []).append(
                    (rank_of.get(uid, -1), day, n, sessions, minutes))
            for scope, rows in by_scope.items():
                scopes.setdefault(scope, []).append(np.array(rows, dtype=float))
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
    days = {scope: _user_days(parts) for scope, parts in scopes.items()}
    modes = {scope.removeprefix("mode:"): (d, channels.get(scope.removeprefix("mode:"), 0))
             for scope, d in days.items() if scope != ALL}
    return report_from_days(community, period, days.get(ALL, UserDays.empty()), modes,
                            models, opts)


def _user_days(parts: list[np.ndarray]) -> UserDays:
    a = np.concatenate(parts)
    ints = a[:, :4].astype(np.int64)
    return UserDays(ints[:, 0], ints[:, 1], ints[:, 2], ints[:, 3], a[:, 4])
