"""The report of a community from its daily rollups (see `bot.analytics.daily`).

The same figures as `build_report` computes from raw events, for a period of whole days in
the community's timezone: per user and day the messages, sessions and session minutes
(overall and per mode), per model and day the replies and what followed. Everything here
is numpy over arrays of user-days; nothing reads the history itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from bot.analytics.bootstrap import ratio_interval
from bot.analytics.engagement import Engagement
from bot.analytics.model_stats import ModelStats
from bot.analytics.modes import ModeStats
from bot.analytics.options import AnalysisOptions, fit_with
from bot.analytics.report import Report
from bot.analytics.retention import Cohorts, curve_ratio, retention_curve


@dataclass(frozen=True, slots=True)
class UserDays:
    """One scope's user-days up to the end of the period: parallel arrays, any order.

    `rank` orders users as the reports do (by their external id), so that the bootstrap
    draws the same users as the in-memory path does.
    """

    user: np.ndarray  # int, the user's rank
    day: np.ndarray  # int, date ordinal
    messages: np.ndarray
    sessions: np.ndarray
    minutes: np.ndarray

    @classmethod
    def empty(cls) -> UserDays:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z, np.zeros(0))


@dataclass(frozen=True, slots=True)
class ModelDays:
    """A model's totals over the period (`late_*`: replies of the period's last day whose
    window runs past its end, so not judged)."""

    replies: int
    judged: int
    continued: int
    late_judged: int
    late_continued: int
    thumbs_up: int
    thumbs_down: int
    regenerated: int


@dataclass(frozen=True, slots=True)
class Period:
    """[first, end) as date ordinals in `tz`."""

    first: int
    end: int
    tz: ZoneInfo

    @classmethod
    def around(cls, since: datetime, until: datetime, tz: ZoneInfo) -> Period:
        """Whole days: from the day `since` falls on to the start of the day `until` is in."""
        first = since.astimezone(tz).date().toordinal()
        end = until.astimezone(tz).date().toordinal()
        if end <= first:
            end = first + 1
        return cls(first, end, tz)

    def start_of(self, day: int) -> datetime:
        return datetime.combine(date.fromordinal(day), time(), self.tz)


def engagement_of(d: UserDays, first: int, end: int) -> tuple[Engagement, np.ndarray,
                                                                np.ndarray]:
    """Engagement over days [first, end) and per-user (minutes, user-days) in rank order."""
    mask = (d.day >= first) & (d.day < end)
    users, inverse = np.unique(d.user[mask], return_inverse=True)
    minutes = np.bincount(inverse, weights=d.minutes[mask], minlength=users.size)
    user_days = np.bincount(inverse, minlength=users.size).astype(float)
    active = np.bincount(d.day[mask] - first, minlength=end - first)
    daily = {date.fromordinal(first + i): int(n) for i, n in enumerate(active)}
    e = Engagement(
        users=int(users.size),
        user_days=int(mask.sum()),
        sessions=int(d.sessions[mask].sum()),
        messages=int(d.messages[mask].sum()),
        minutes=float(d.minutes[mask].sum()),
        daily_active=daily,
    )
    return e, minutes, user_days


def cohorts_of(d: UserDays, p: Period, max_day: int) -> Cohorts:
    """Users first seen in the period and their activity on days 0..max_day after."""
    ranks, inverse = np.unique(d.user, return_inverse=True)
    first = np.full(ranks.size, np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, d.day)
    new = first >= p.first
    index = np.full(ranks.size, -1)
    index[new] = np.arange(int(new.sum()))
    k = d.day - first[inverse]
    keep = new[inverse] & (k <= max_day)
    active = np.zeros((int(new.sum()), max_day + 1), dtype=bool)
    active[index[inverse[keep]], k[keep]] = True
    day0 = first[new]
    observed = (day0[:, None] + np.arange(max_day + 1)[None, :] + 1) <= p.end
    users = tuple(str(r) for r in ranks[new])
    return Cohorts(users, tuple(date.fromordinal(int(x)) for x in day0), active, observed)


def _mode_stats(mode: str, d: UserDays, channels: int, p: Period,
                opts: AnalysisOptions) -> ModeStats:
    e, minutes, user_days = engagement_of(d, p.first, p.end)
    c = cohorts_of(d, p, opts.max_day)
    return ModeStats(
        mode=mode, channels=channels, engagement=e,
        minutes_ci=ratio_interval(minutes, user_days, draws=opts.draws, level=opts.level,
                                  seed=opts.seed),
        retention=retention_curve(c), fit=fit_with(c, opts), reference=None, vs_reference=None)


def _models(rows: Mapping[str, ModelDays]) -> dict[str, ModelStats]:
    total = sum(r.replies for r in rows.values())
    stats = [ModelStats(m, r.replies, r.replies / total, r.judged - r.late_judged,
                        r.continued - r.late_continued, r.thumbs_up, r.thumbs_down,
                        r.regenerated) for m, r in rows.items() if r.replies]
    stats.sort(key=lambda s: (-s.replies, s.model))
    return {s.model: s for s in stats}


def report_from_days(
    community: str,
    period: Period,
    overall: UserDays,
    modes: Mapping[str, tuple[UserDays, int]],
    models: Mapping[str, ModelDays],
    options: AnalysisOptions | None = None,
) -> Report:
    """The report over `period` from the rollups: `modes` maps a mode to its user-days and
    the number of channels with users' messages under it in the period."""
    opts = options or AnalysisOptions()
    p = period
    e, minutes, user_days = engagement_of(overall, p.first, p.end)
    c = cohorts_of(overall, p, opts.max_day)
    found: list[ModeStats] = []
    for mode, (days, channels) in modes.items():
        in_period = (days.day >= p.first) & (days.day < p.end)
        if in_period.any():
            found.append(_mode_stats(mode, days, channels, p, opts))
    found.sort(key=lambda m: (-m.engagement.users, m.mode))
    compared: dict[str, ModeStats] = {}
    if found:
        ref = found[0]
        compared[ref.mode] = ref
        for other in found[1:]:
            ratio = curve_ratio(other.retention, ref.retention,
                                min_point_users=opts.min_point_users)
            compared[other.mode] = replace(other, reference=ref.mode, vs_reference=ratio)
    return Report(
        community=community,
        since=p.start_of(p.first),
        until=p.start_of(p.end),
        engagement=e,
        minutes_ci=ratio_interval(minutes, user_days, draws=opts.draws, level=opts.level,
                                  seed=opts.seed),
        this_week=engagement_of(overall, p.end - 7, p.end)[0],
        last_week=engagement_of(overall, p.end - 14, p.end - 7)[0],
        new_users=len(c.users),
        retention=retention_curve(c),
        fit=fit_with(c, opts),
        models=_models(models),
        modes=compared,
    )


def ranks(external_ids: Sequence[str]) -> dict[str, int]:
    """Each external id's rank in sorted order (the order the reports list users in)."""
    return {x: i for i, x in enumerate(sorted(external_ids))}


__all__ = ["ModelDays", "Period", "UserDays", "ranks", "report_from_days"]
