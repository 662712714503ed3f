"""Retention: cohorts by first-seen day, R(k), and its power-law fit R(k) ≈ R(1)·k^(−ζ).

A user's *first-seen day* is the UTC day of their first message in the data given; their
cohort is that day. They are *active on day k* when they wrote on first-seen day + k. R(k)
pools every cohort whose day k is fully observed (ends before `until`): active users over
users, i.e. the cohorts' rates weighted by cohort size.

The fit is weighted least squares of log R(k) on log k over k ≥ 1. Each point is weighted
by the number of cohort users n_k behind it (so cohorts count by their size) times the
binomial precision of log R at the fitted curve, R/(1 − R): the variance of log R̂(k) is
about (1 − R)/(n_k·R), so rare late returns are noisier than common early ones. The fit
starts from weights n_k and is reweighted twice with the fitted R. Days with R(k) = 0 or
too few users are left out. The confidence interval for ζ comes from a bootstrap over users: a
user's activity on different days is correlated, so the R(k) points are not independent
and the regression's own standard error (also reported) is too optimistic. Resampling whole
users keeps that correlation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from bot.analytics.bootstrap import DEFAULT_DRAWS, DEFAULT_LEVEL, percentile_interval, user_weights
from bot.analytics.events import MessageEvent, as_utc

DEFAULT_MAX_DAY = 30
MIN_USERS = 30  # cohort users needed before any fit is tried
MIN_POINTS = 3  # usable days k needed for a fit
MIN_POINT_USERS = 20  # users observed on day k for that day to be a usable point
REWEIGHTS = 2  # passes reweighting the fit by binomial precision at the fitted curve


@dataclass(frozen=True, slots=True)
class Cohorts:
    """Cohort users' activity: rows are users, columns days 0..max_day after first seen."""

    users: tuple[str, ...]
    first_day: tuple[date, ...]
    active: np.ndarray  # bool, user wrote on that day
    observed: np.ndarray  # bool, that day lies wholly before `until`

    @property
    def max_day(self) -> int:
        return self.active.shape[1] - 1

    def sizes(self) -> dict[date, int]:
        """Users per cohort (first-seen day)."""
        out: dict[date, int] = {}
        for day in self.first_day:
            out[day] = out.get(day, 0) + 1
        return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class RetentionCurve:
    """R(k) for k = 1..max_day and the number of cohort users observed on each day k."""

    days: np.ndarray  # k
    rate: np.ndarray  # R(k); nan where nobody was observed
    users: np.ndarray  # users observed on day k

    def as_dict(self) -> dict[int, float]:
        """k → R(k) for the days with at least one observed user."""
        return {
            int(k): float(r) for k, r, n in zip(self.days, self.rate, self.users, strict=True) if n
        }


@dataclass(frozen=True, slots=True)
class PowerLawFit:
    """R(k) ≈ r1·k^(−zeta); every number is None when `insufficient_data` says why not."""

    zeta: float | None
    r1: float | None
    zeta_ci: tuple[float, float] | None
    stderr: float | None  # the regression's, for reference; see the module docstring
    points: int  # days k used
    users: int  # cohort users
    insufficient_data: str | None = None
    # the bootstrap: ζ of each draw (nan where it could not be fitted), and each draw's
    # observed and active users per day k (for comparing two fits draw by draw)
    draws: np.ndarray | None = field(default=None, repr=False, compare=False)
    draw_counts: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False,
                                                              compare=False)

    @classmethod
    def insufficient(cls, reason: str, *, points: int, users: int) -> PowerLawFit:
        """No fit, and why."""
        return cls(None, None, None, None, points, users, reason)


@dataclass(frozen=True, slots=True)
class RatioFit:
    """R_a(k) / R_b(k) ≈ beta·k^(delta_zeta); delta_zeta = ζ_b − ζ_a (> 0: a decays slower)."""

    beta: float
    delta_zeta: float
    points: int


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def cohorts(
    messages: Iterable[MessageEvent],
    since: datetime,
    until: datetime,
    *,
    max_day: int = DEFAULT_MAX_DAY,
) -> Cohorts:
    """Users first seen in [since, until) and their activity on days 0..max_day.

    Pass every user message of the community up to `until`, older ones too: a user first
    seen before `since` is not a new user of the period. Bot replies are ignored.
    """
    since, until = as_utc(since), as_utc(until)
    days_by_user: dict[str, set[date]] = {}
    first: dict[str, datetime] = {}
    for m in messages:
        if m.role != "user" or m.ts >= until:
            continue
        days_by_user.setdefault(m.user, set()).add(m.ts.date())
        if m.user not in first or m.ts < first[m.user]:
            first[m.user] = m.ts
    users = tuple(sorted(u for u, t in first.items() if since <= t))
    first_day = tuple(first[u].date() for u in users)
    active = np.zeros((len(users), max_day + 1), dtype=bool)
    observed = np.zeros_like(active)
    for i, (user, day0) in enumerate(zip(users, first_day, strict=True)):
        for day in days_by_user[user]:
            k = (day - day0).days
            if k <= max_day:
                active[i, k] = True
        for k in range(max_day + 1):
            observed[i, k] = _day_start(day0 + timedelta(days=k + 1)) <= until
    return Cohorts(users, first_day, active, observed)


def _counts(c: Cohorts, weights: np.ndarray | Iterable[np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Observed and active users per day k ≥ 1 for each row of user weights (one array, or
    blocks of rows)."""
    obs = c.observed[:, 1:].astype(float)
    act = (c.active[:, 1:] & c.observed[:, 1:]).astype(float)
    if isinstance(weights, np.ndarray):
        return weights @ obs, weights @ act
    both = np.concatenate([obs, act], axis=1)
    out = np.concatenate([w @ both for w in weights])
    return out[:, :obs.shape[1]], out[:, obs.shape[1]:]


def retention_curve(c: Cohorts) -> RetentionCurve:
    """R(k) pooled over the cohorts observed on day k."""
    n, a = _counts(c, np.ones(len(c.users)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, a / n, np.nan)
    return RetentionCurve(np.arange(1, c.max_day + 1), rate, n.astype(int))


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float | None]:
    """Intercept, slope and the slope's standard error of weighted least squares."""
    wsum = w.sum()
    xm, ym = (w * x).sum() / wsum, (w * y).sum() / wsum
    sxx = (w * (x - xm) ** 2).sum()
    slope = (w * (x - xm) * (y - ym)).sum() / sxx
    intercept = ym - slope * xm
    if x.size <= 2:
        return intercept, slope, None
    resid = y - intercept - slope * x
    sigma2 = (w * resid**2).sum() / (x.size - 2)
    return intercept, slope, float(np.sqrt(sigma2 / sxx))


def _usable(days: np.ndarray, n: np.ndarray, a: np.ndarray, min_point_users: int) -> np.ndarray:
    return (n >= min_point_users) & (a > 0) & (days >= 1)


def _fit_points(
    days: np.ndarray, n: np.ndarray, a: np.ndarray, min_point_users: int, min_points: int
) -> tuple[float, float, float | None] | None:
    ok = _usable(days, n, a, min_point_users)
    if ok.sum() < min_points:
        return None
    x, y, users = np.log(days[ok]), np.log(a[ok] / n[ok]), n[ok]
    fit = _wls(x, y, users)
    for _ in range(REWEIGHTS):
        fitted = np.clip(np.exp(fit[0] + fit[1] * x), 1e-6, 0.99)
        fit = _wls(x, y, users * fitted / (1.0 - fitted))
    return fit


def fit_retention(
    c: Cohorts,
    *,
    min_users: int = MIN_USERS,
    min_points: int = MIN_POINTS,
    min_point_users: int = MIN_POINT_USERS,
    draws: int = DEFAULT_DRAWS,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> PowerLawFit:
    """The power-law fit of the cohorts' retention, or why there is too little data."""
    users = len(c.users)
    if users < min_users:
        return PowerLawFit.insufficient(
            f"only {users} new users in the period; {min_users} needed", points=0, users=users
        )
    days = np.arange(1, c.max_day + 1)
    n, a = _counts(c, np.ones(users))
    points = int(_usable(days, n, a, min_point_users).sum())
    fit = _fit_points(days, n, a, min_point_users, min_points)
    if fit is None:
        return PowerLawFit.insufficient(
            f"retention measurable on only {points} days after the first visit; {min_points}"
            f" needed, each with {min_point_users} users observed and someone returning",
            points=points,
            users=users,
        )
    intercept, slope, stderr = fit
    rng = np.random.default_rng(seed)
    boot_n, boot_a = _counts(c, user_weights(users, draws, rng))
    zetas = np.full(draws, np.nan)
    for b in range(draws):
        one = _fit_points(days, boot_n[b], boot_a[b], min_point_users, min_points)
        if one is not None:
            zetas[b] = -one[1]
    return PowerLawFit(
        zeta=float(-slope),
        r1=float(np.exp(intercept)),
        zeta_ci=percentile_interval(zetas, level),
        stderr=stderr,
        points=points,
        users=users,
        draws=zetas,
        draw_counts=(boot_n, boot_a),
    )


def curve_ratio(
    a: RetentionCurve, b: RetentionCurve, *, min_point_users: int = MIN_POINT_USERS
) -> RatioFit | None:
    """Fit R_a(k)/R_b(k) ≈ β·k^(Δζ) on the days both curves measure; None if under 2 days."""
    k = min(a.days.size, b.days.size)
    return counts_ratio(a.days[:k], a.rate[:k], b.rate[:k], a.users[:k], b.users[:k],
                        min_point_users=min_point_users)


def counts_ratio(days: np.ndarray, ra: np.ndarray, rb: np.ndarray, na: np.ndarray,
                 nb: np.ndarray, *, min_point_users: int = MIN_POINT_USERS) -> RatioFit | None:
    """`curve_ratio` of two curves given as rates and observed users per day k."""
    na, nb = na.astype(float), nb.astype(float)
    ok = (na >= min_point_users) & (nb >= min_point_users) & (ra > 0) & (rb > 0)
    if ok.sum() < 2:
        return None
    weight = na[ok] * nb[ok] / (na[ok] + nb[ok])
    intercept, slope, _ = _wls(np.log(days[ok]), np.log(ra[ok] / rb[ok]), weight)
    return RatioFit(beta=float(np.exp(intercept)), delta_zeta=float(slope), points=int(ok.sum()))
