from __future__ import annotations

import pytest

from bot.analytics.modes import compare_modes, split_by_mode
from bot.analytics.synthetic import SyntheticCommunity, generate
from tests.analytics.helpers import Stream, at


def test_messages_belong_to_the_mode_their_channel_had_then() -> None:
    s = Stream()
    before = s.user(at(1, "09:00"), "alice")  # no setting yet: the default mode
    s.mode(at(1, "10:00"), "single")
    during = s.user(at(1, "11:00"), "alice")
    s.mode(at(1, "12:00"), None)  # reset to the default
    after = s.user(at(1, "13:00"), "alice")
    elsewhere = s.user(at(1, "11:00"), "bob", channel="c2")
    s.mode(at(1, "10:30"), "weighted", channel="c3")
    assert split_by_mode(s.events, "uniform") == {
        "uniform": [before, after, elsewhere],
        "single": [during],
    }


def test_modes_with_different_retention_are_told_apart() -> None:
    zeta = {"uniform": 0.35, "single": 0.75}
    spec = SyntheticCommunity(users=2400, modes=zeta, seed=5)
    modes = compare_modes(generate(spec), spec.since, spec.until)
    assert set(modes) == {"uniform", "single"}
    ref = next(m for m in modes.values() if m.reference is None)
    other = next(m for m in modes.values() if m.reference is not None)
    assert other.reference == ref.mode
    for m in modes.values():
        assert m.fit.zeta == pytest.approx(zeta[m.mode], abs=0.08)
        assert m.fit.zeta_ci is not None and m.fit.zeta_ci[0] < m.fit.zeta < m.fit.zeta_ci[1]
        assert m.minutes_ci is not None
        lo, hi = m.minutes_ci
        assert lo < m.engagement.minutes_per_user_day < hi  # type: ignore[operator]
        assert m.channels == m.engagement.users  # one channel per synthetic user
    assert other.vs_reference is not None
    truth = zeta[ref.mode] - zeta[other.mode]  # > 0 when the other mode decays slower
    assert other.vs_reference.delta_zeta == pytest.approx(truth, abs=0.1)
