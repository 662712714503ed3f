from __future__ import annotations

import json
from datetime import timedelta, timezone

import pytest

from bot.analytics import build_report, summary_text
from bot.analytics.summary import MAX_CHARS
from bot.analytics.synthetic import ModelBehaviour, SyntheticCommunity, generate
from tests.analytics.helpers import Stream, at


def _two_weeks() -> Stream:
    """Two users last week, three this week; gemma answers everyone."""
    s = Stream()
    for day, users in ((1, ("alice", "bob")), (8, ("alice", "bob", "carol"))):
        for user in users:
            s.user(at(day, "10:00"), user, channel=user)
            s.bot(at(day, "10:00", 5), "gemma", channel=user)
    s.events.append(Stream("elsewhere").user(at(8, "11:00"), "mallory"))
    return s


def test_a_small_community_says_it_has_too_little_data() -> None:
    report = build_report(_two_weeks().events, "g1", at(1, "00:00"), at(15, "00:00"))
    out = report.to_dict()
    assert out["users"] == 3  # mallory is in another community
    assert out["zeta"] is None and out["zeta_ci"] is None
    assert "3 new users" in out["insufficient_data"]
    text = summary_text(report)
    assert "not enough data" in text and "ζ =" not in text


def test_json_has_the_keys_the_cli_promises() -> None:
    report = build_report(_two_weeks().events, "g1", at(1, "00:00"), at(15, "00:00"))
    out = json.loads(report.to_json())
    for key in ("users", "engagement_minutes_per_user_day", "retention", "zeta", "zeta_ci"):
        assert key in out
    # alice and bob came back a week later; carol's day 7 is not over yet
    assert (out["retention"]["7"], out["retention_users"]["7"]) == (1.0, 2)
    assert (out["retention"]["1"], out["retention_users"]["1"]) == (0.0, 3)
    assert out["models"]["gemma"] == {
        "replies": 5,
        "share": 1.0,
        "continuation_rate": 0.0,
        "thumbs_up_rate": 0.0,
        "thumbs_down_rate": 0.0,
        "regenerate_rate": 0.0,
    }
    assert out["engagement_minutes_per_user_day"] == 1.0  # one message: the allowance
    assert out["daily_active_users"]["2026-11-09"] == 3


def test_summary_compares_this_week_with_last_week() -> None:
    report = build_report(_two_weeks().events, "g1", at(1, "00:00"), at(15, "00:00"))
    text = summary_text(report)
    assert "Active users: 3 ▲ 50% (2 last week)" in text
    assert "gemma 100%" in text
    alone = [e for e in _two_weeks().events if e.ts < at(8, "00:00") or e.channel == "alice"]
    text = summary_text(build_report(alone, "g1", at(1, "00:00"), at(15, "00:00")))
    assert "Active users: 1 ▼ 50% (2 last week)" in text


def test_summary_of_a_busy_community_fits_a_caption() -> None:
    models = {f"a-rather-long-model-name-number-{i}": ModelBehaviour() for i in range(12)}
    spec = SyntheticCommunity(users=300, models=models, modes={"uniform": 0.5, "single": 0.6})
    report = build_report(generate(spec), spec.community, spec.since, spec.until)
    text = summary_text(report)
    assert len(text) <= MAX_CHARS
    assert "ζ = " in text and "Top models:" in text and "Modes:" in text


def test_periods_in_other_timezones_are_reported_in_utc() -> None:
    since = at(1, "02:00").astimezone(timezone(timedelta(hours=2)))  # 04:00+02:00
    out = build_report(_two_weeks().events, "g1", since, at(15, "00:00")).to_dict()
    assert (out["since"], out["until"]) == ("2026-11-02T02:00:00Z", "2026-11-16T00:00:00Z")


def test_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="until"):
        build_report([], "g1", at(2, "00:00"), at(1, "00:00"))
    with pytest.raises(ValueError, match="naive"):
        build_report([], "g1", at(1, "00:00").replace(tzinfo=None), at(2, "00:00"))


def test_a_community_with_no_messages_still_reports() -> None:
    report = build_report([], "g1", at(1, "00:00"), at(8, "00:00"))
    out = report.to_dict()
    assert out["users"] == 0 and out["models"] == {} and out["insufficient_data"]
    assert out["daily_active_users"] == {f"2026-11-{d:02d}": 0 for d in range(2, 9)}
    assert "Active users: 0" in summary_text(report)
