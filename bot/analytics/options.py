"""The knobs of an analysis, with the defaults the reports use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.analytics.bootstrap import DEFAULT_DRAWS, DEFAULT_LEVEL
from bot.analytics.model_stats import DEFAULT_WINDOW
from bot.analytics.retention import (
    DEFAULT_MAX_DAY,
    MIN_POINT_USERS,
    MIN_POINTS,
    MIN_USERS,
    Cohorts,
    PowerLawFit,
    fit_retention,
)
from bot.analytics.sessions import DEFAULT_ALLOWANCE, DEFAULT_GAP


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """How sessions, continuation, retention and confidence intervals are computed."""

    gap: timedelta = DEFAULT_GAP  # silence that ends a session
    allowance: timedelta = DEFAULT_ALLOWANCE  # added to each session's duration
    window: timedelta = DEFAULT_WINDOW  # a reply counts as continued within this
    max_day: int = DEFAULT_MAX_DAY  # retention is measured for k = 1..max_day
    min_users: int = MIN_USERS  # new users needed to fit retention
    min_points: int = MIN_POINTS  # usable days k needed to fit retention
    min_point_users: int = MIN_POINT_USERS  # observed users for a day k to be usable
    draws: int = DEFAULT_DRAWS  # bootstrap draws
    level: float = DEFAULT_LEVEL  # confidence level of the intervals
    seed: int = 0  # bootstrap seed: the same data gives the same intervals
    default_mode: str = "uniform"  # mode of a channel before any mode setting event


def fit_with(c: Cohorts, opts: AnalysisOptions) -> PowerLawFit:
    """`fit_retention` with the options' thresholds, bootstrap draws, level and seed."""
    return fit_retention(
        c,
        min_users=opts.min_users,
        min_points=opts.min_points,
        min_point_users=opts.min_point_users,
        draws=opts.draws,
        level=opts.level,
        seed=opts.seed,
    )
