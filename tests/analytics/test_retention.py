from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from bot.analytics.retention import (
    Cohorts,
    cohorts,
    curve_ratio,
    fit_retention,
    retention_curve,
)
from bot.analytics.sessions import user_messages
from tests.analytics.helpers import Stream, at


def _small() -> Stream:
    s = Stream()
    s.user(at(0, "12:00"), "eve")  # seen before the period: not a new user
    s.user(at(2, "12:00"), "eve")
    for day in (1, 2, 4):
        s.user(at(day, "09:00"), "alice")
        s.bot(at(day, "09:00", 5), "gemma")  # replies are not activity
    s.user(at(1, "23:59"), "bob")
    s.user(at(3, "00:01"), "bob")
    s.user(at(1, "10:00"), "carol")
    s.user(at(2, "10:00"), "dave")
    s.user(at(3, "10:00"), "dave")
    s.user(at(5, "10:00"), "dave")  # the 5th is not over at `until`: not observed
    return s


def test_cohorts_by_first_seen_day_and_pooled_retention() -> None:
    c = cohorts(user_messages(_small().events), at(1, "00:00"), at(5, "12:00"))
    assert c.users == ("alice", "bob", "carol", "dave")
    assert c.sizes() == {date(2026, 11, 2): 3, date(2026, 11, 3): 1}
    curve = retention_curve(c)
    # day 1: alice and dave of 4; day 2: bob of 4; day 3: alice of the 3 first seen on the 2nd
    assert curve.as_dict() == {1: 0.5, 2: 0.25, 3: pytest.approx(1 / 3)}
    assert list(curve.users[:4]) == [4, 4, 3, 0]


def _exact(users: int, r1: float, zeta: float, days: int = 30) -> Cohorts:
    """Users whose pooled R(k) is r1·k^(−zeta) up to rounding."""
    active = np.zeros((users, days + 1), dtype=bool)
    active[:, 0] = True
    for k in range(1, days + 1):
        active[: round(users * r1 * k**-zeta), k] = True
    names = tuple(f"u{i}" for i in range(users))
    return Cohorts(names, (date(2026, 11, 2),) * users, active, np.ones_like(active))


def test_power_law_fit_recovers_an_exact_curve() -> None:
    fit = fit_retention(_exact(5000, 0.6, 0.7), draws=50)
    assert fit.insufficient_data is None
    assert fit.zeta == pytest.approx(0.7, abs=0.01)
    assert fit.r1 == pytest.approx(0.6, abs=0.01)
    assert fit.zeta_ci is not None and fit.zeta_ci[0] <= fit.zeta <= fit.zeta_ci[1]
    assert fit.points == 30 and fit.users == 5000


def test_too_few_users_is_reported_instead_of_fitted() -> None:
    fit = fit_retention(_exact(12, 0.6, 0.7))
    assert (fit.zeta, fit.zeta_ci, fit.r1) == (None, None, None)
    assert fit.insufficient_data is not None and "12 new users" in fit.insufficient_data


def test_too_few_observed_days_is_reported_instead_of_fitted() -> None:
    c = _exact(500, 0.6, 0.7)
    c.observed[:, 3:] = False  # only days 1 and 2 are over
    fit = fit_retention(c)
    assert fit.zeta is None
    assert fit.insufficient_data is not None and "only 2 days" in fit.insufficient_data


def test_ratio_of_two_curves_is_a_power_law() -> None:
    a = retention_curve(_exact(20000, 0.6, 0.5))
    b = retention_curve(_exact(20000, 0.5, 0.8))
    ratio = curve_ratio(a, b)
    assert ratio is not None
    assert ratio.beta == pytest.approx(1.2, abs=0.02)
    assert ratio.delta_zeta == pytest.approx(0.3, abs=0.01)  # ζ_b − ζ_a: a decays slower
