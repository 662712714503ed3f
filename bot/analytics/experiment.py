"""An A/B experiment read the way the Blended paper reads one: per arm engagement and
retention, and between arms the ratio of their retention curves.

The unit is the user: each was put in one arm on first sight. An arm's cohort is its users
assigned in the period; day 0 is the day they were assigned, as they wrote (or their first
active day after it), in the community's timezone, and R(k) is the share of them active k
days later, over all their channels. Engagement
counts their user-days from that day on. Everything comes from the per user-day rollups
(`bot.analytics.from_days.UserDays`), and the intervals from the bootstrap over users that
the reports use (`bot.analytics.retention.fit_retention`), each arm resampled on its own.

Between the reference arm a (the first one listed) and another arm b:
R_b(k) / R_a(k) ≈ β·k^Δζ with Δζ = ζ_a − ζ_b (> 0: b keeps its users better). The
interval for Δζ is Δζ ± z·(the standard deviation of the draw-by-draw differences of the two
arms' bootstrap ζ), at `DECISION_LEVEL` (99%: see there). The `winner` is the arm with the
smallest ζ, named only when its Δζ interval against every other arm excludes 0; else there
is "no difference yet".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from statistics import NormalDist
from typing import Any

import numpy as np

from bot.analytics.bootstrap import percentile_interval, ratio_interval
from bot.analytics.engagement import Engagement
from bot.analytics.events import format_ts
from bot.analytics.from_days import Period, UserDays, engagement_of
from bot.analytics.options import AnalysisOptions, fit_with
from bot.analytics.retention import (
    Cohorts,
    PowerLawFit,
    RatioFit,
    RetentionCurve,
    counts_ratio,
    retention_curve,
)

NO_DIFFERENCE = "no difference yet"
# The level of the between-arm intervals (Δζ, β) and so of the winner. An admin reads a
# running experiment again and again (every weekly report is a look), and each look at a
# 95% interval has its 5% chance of a false winner; at 99% two identical arms name one in
# about 1 seed in 100 per look.
DECISION_LEVEL = 0.99


@dataclass(frozen=True, slots=True)
class Members:
    """An experiment's users as parallel arrays: rank (as in `UserDays.user`), arm index,
    and the day (ordinal, community timezone) they were assigned."""

    user: np.ndarray
    arm: np.ndarray
    day: np.ndarray


@dataclass(frozen=True, slots=True)
class ArmStats:
    arm: str
    spec: str | None  # the arm's mode or model, when known here
    users: int  # assigned in the period
    engagement: Engagement
    minutes_ci: tuple[float, float] | None
    retention: RetentionCurve
    fit: PowerLawFit


@dataclass(frozen=True, slots=True)
class Comparison:
    """`arm` against `reference`: R_arm / R_reference ≈ beta·k^delta_zeta."""

    arm: str
    reference: str
    delta_zeta: float | None
    delta_zeta_ci: tuple[float, float] | None
    beta: float | None
    beta_ci: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    name: str
    community: str
    since: datetime
    until: datetime
    arms: dict[str, ArmStats]
    comparisons: dict[str, Comparison]  # every arm but the reference
    headline: Comparison | None  # the reference against its closest challenger
    winner: str | None
    verdict: str
    insufficient_data: str | None
    level: float

    def to_dict(self) -> dict[str, Any]:
        h = self.headline
        return {
            "name": self.name,
            "community": self.community,
            "since": format_ts(self.since),
            "until": format_ts(self.until),
            "arms": {a: _arm_dict(s, self.comparisons.get(a)) for a, s in self.arms.items()},
            "reference": next(iter(self.arms), None),
            "compared": h.arm if h else None,
            "delta_zeta": _num(h.delta_zeta) if h else None,
            "delta_zeta_ci": _pair(h.delta_zeta_ci) if h else None,
            "beta": _num(h.beta) if h else None,
            "beta_ci": _pair(h.beta_ci) if h else None,
            "delta_zeta_level": self.level,
            "winner": self.winner,
            "verdict": self.verdict,
            "insufficient_data": self.insufficient_data,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _num(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def _pair(pair: tuple[float, float] | None) -> list[float | None] | None:
    return None if pair is None else [_num(pair[0]), _num(pair[1])]


def _arm_dict(s: ArmStats, vs: Comparison | None) -> dict[str, Any]:
    return {
        "spec": s.spec,
        "users": s.users,
        "engagement_minutes_per_user_day": _num(s.engagement.minutes_per_user_day),
        "engagement_minutes_ci": _pair(s.minutes_ci),
        "messages_per_user_day": _num(s.engagement.messages_per_user_day),
        "retention": {str(k): _num(r) for k, r in s.retention.as_dict().items()},
        "zeta": _num(s.fit.zeta),
        "zeta_ci": _pair(s.fit.zeta_ci),
        "retention_r1": _num(s.fit.r1),
        "insufficient_data": s.fit.insufficient_data,
        "delta_zeta": _num(vs.delta_zeta) if vs else None,
        "delta_zeta_ci": _pair(vs.delta_zeta_ci) if vs else None,
        "beta": _num(vs.beta) if vs else None,
        "beta_ci": _pair(vs.beta_ci) if vs else None,
    }


def arm_cohorts(d: UserDays, members: Members, arm: int, p: Period, max_day: int
                ) -> tuple[Cohorts, UserDays]:
    """The arm's users assigned in the period and active since, their days 0..max_day after
    their first active day since assignment (the assignment day itself, when it happened as
    they wrote), and their user-days from then on."""
    mine = (members.arm == arm) & (members.day >= p.first) & (members.day < p.end)
    users, assigned = members.user[mine], members.day[mine]
    none = np.zeros((0, max_day + 1), dtype=bool)
    if users.size == 0:
        return Cohorts((), (), none, none), UserDays.empty()
    size = int(max(d.user.max(initial=-1), users.max(initial=-1))) + 1
    index = np.full(size, -1)
    index[users] = np.arange(users.size)
    row = index[d.user]
    since = (row >= 0) & (d.day >= np.where(row >= 0, assigned[np.maximum(row, 0)], 0))
    first = np.full(users.size, np.iinfo(np.int64).max)
    np.minimum.at(first, row[since], d.day[since])
    seen = first < np.iinfo(np.int64).max  # active after their assignment
    if not seen.any():
        return Cohorts((), (), none, none), UserDays.empty()
    renumber = np.full(users.size, -1)
    renumber[seen] = np.arange(int(seen.sum()))
    users, day0 = users[seen], first[seen]
    row = np.where(row >= 0, renumber[np.maximum(row, 0)], -1)
    keep = since & (row >= 0)
    k = d.day - np.where(row >= 0, day0[np.maximum(row, 0)], 0)
    active = np.zeros((users.size, max_day + 1), dtype=bool)
    near = keep & (k <= max_day)
    active[row[near], k[near]] = True
    observed = (day0[:, None] + np.arange(max_day + 1)[None, :] + 1) <= p.end
    c = Cohorts(tuple(str(u) for u in users),
                tuple(date.fromordinal(int(x)) for x in day0), active, observed)
    days = UserDays(d.user[keep], d.day[keep], d.messages[keep], d.sessions[keep],
                    d.minutes[keep])
    return c, days


def _draw_rates(fit: PowerLawFit) -> tuple[np.ndarray, np.ndarray] | None:
    if fit.draw_counts is None:
        return None
    n, a = fit.draw_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, a / n, np.nan), n


def difference_interval(a: PowerLawFit, b: PowerLawFit, level: float
                        ) -> tuple[float, float] | None:
    """The interval of ζ_a − ζ_b: the difference ± z·its bootstrap standard error (the
    normal interval: steadier than the percentiles' far tails of a few hundred draws)."""
    if a.zeta is None or b.zeta is None or a.draws is None or b.draws is None:
        return None
    diff = a.draws - b.draws
    finite = diff[np.isfinite(diff)]
    if finite.size < max(2, diff.size / 2):
        return None
    half = NormalDist().inv_cdf(0.5 + level / 2) * float(finite.std(ddof=1))
    return a.zeta - b.zeta - half, a.zeta - b.zeta + half


def compare(a: ArmStats, b: ArmStats, opts: AnalysisOptions,
            level: float = DECISION_LEVEL) -> Comparison:
    """`b` against the reference `a`, with bootstrap intervals at `level`."""
    ratio: RatioFit | None = counts_ratio(a.retention.days, b.retention.rate, a.retention.rate,
                                          b.retention.users, a.retention.users,
                                          min_point_users=opts.min_point_users)
    dz = dz_ci = beta_ci = None
    if a.fit.zeta is not None and b.fit.zeta is not None:
        dz = a.fit.zeta - b.fit.zeta
        dz_ci = difference_interval(a.fit, b.fit, level)
    ra, rb = _draw_rates(a.fit), _draw_rates(b.fit)
    if ratio is not None and ra is not None and rb is not None:
        betas = np.full(ra[0].shape[0], np.nan)
        for i in range(betas.size):
            one = counts_ratio(a.retention.days, rb[0][i], ra[0][i], rb[1][i], ra[1][i],
                               min_point_users=opts.min_point_users)
            if one is not None:
                betas[i] = one.beta
        beta_ci = percentile_interval(betas, level)
    return Comparison(b.arm, a.arm, dz, dz_ci, ratio.beta if ratio else None, beta_ci)


def _winner(arms: Sequence[ArmStats], level: float) -> str | None:
    """The arm with the smallest ζ when its interval against every other excludes 0."""
    best = min(arms, key=lambda s: s.fit.zeta if s.fit.zeta is not None else np.inf)
    for other in arms:
        if other is best:
            continue
        ci = difference_interval(other.fit, best.fit, level)
        if ci is None or ci[0] <= 0.0:
            return None
    return best.arm


def read_experiment(name: str, community: str, period: Period, d: UserDays,
                    members: Members, arm_names: Sequence[str],
                    specs: Mapping[str, str | None] | None = None,
                    options: AnalysisOptions | None = None,
                    level: float = DECISION_LEVEL) -> ExperimentResult:
    """The experiment over `period`: `arm_names[i]` is arm index i of `members`, the first
    the reference; between-arm intervals (and the winner) at `level`."""
    opts = options or AnalysisOptions()
    stats: list[ArmStats] = []
    for i, arm in enumerate(arm_names):
        c, days = arm_cohorts(d, members, i, period, opts.max_day)
        e, minutes, user_days = engagement_of(days, period.first, period.end)
        arm_opts = replace(opts, seed=opts.seed + 1 + i)  # each arm resampled on its own
        stats.append(ArmStats(
            arm, (specs or {}).get(arm), len(c.users), e,
            ratio_interval(minutes, user_days, draws=opts.draws, level=opts.level,
                           seed=opts.seed + 1 + i),
            retention_curve(c), fit_with(c, arm_opts)))
    comparisons = ({s.arm: compare(stats[0], s, opts, level) for s in stats[1:]}
                   if stats else {})
    missing = [s for s in stats if s.fit.zeta is None]
    headline = None
    if comparisons:
        fitted = [s for s in stats[1:] if s.fit.zeta is not None]
        closest = min(fitted, key=lambda s: s.fit.zeta or 0.0) if fitted else stats[1]
        headline = comparisons[closest.arm]
    insufficient = winner = None
    if len(stats) < 2:
        insufficient = "fewer than two arms have users"
    elif missing:
        insufficient = "; ".join(f"arm {s.arm}: {s.fit.insufficient_data}" for s in missing)
    else:
        winner = _winner(stats, level)
    if insufficient is not None:
        verdict = f"too few users to compare yet ({insufficient})"
    elif winner is None:
        verdict = NO_DIFFERENCE
    else:
        verdict = f"{winner} keeps its users better (smaller ζ)"
    return ExperimentResult(name, community, period.start_of(period.first),
                            period.start_of(period.end), {s.arm: s for s in stats},
                            comparisons, headline, winner, verdict, insufficient, level)


__all__ = [
    "NO_DIFFERENCE",
    "ArmStats",
    "Comparison",
    "ExperimentResult",
    "Members",
    "read_experiment",
]
