from __future__ import annotations

from datetime import timedelta

from bot.analytics.engagement import engagement
from bot.analytics.sessions import build_sessions, user_messages
from tests.analytics.helpers import Stream, at


def _example() -> Stream:
    """Alice: three sessions over two days; Bob: one message; bot replies in between."""
    s = Stream()
    for hhmm in ("10:00", "10:10", "10:20"):
        s.user(at(1, hhmm), "alice")
        s.bot(at(1, hhmm, 5), "gemma")
    s.user(at(1, "11:00"), "alice")  # 40 minutes after 10:20: a new session
    s.user(at(1, "10:05"), "bob", channel="c2")
    s.user(at(2, "09:00"), "alice")
    s.user(at(2, "09:30"), "alice")  # exactly the gap: same session
    s.events.append(Stream("other").user(at(1, "10:01"), "alice"))  # another community
    return s


def test_a_silence_longer_than_the_gap_ends_a_session() -> None:
    sessions = build_sessions(user_messages(_example().events))
    alice = [(x.start, x.turns, x.minutes) for x in sessions if x.user == "alice"]
    alice_g1 = [x for x in sessions if x.user == "alice" and x.community == "g1"]
    assert [(x.start, x.turns, x.minutes) for x in alice_g1] == [
        (at(1, "10:00"), 3, 21.0),  # 20 minutes between first and last + 1 minute allowance
        (at(1, "11:00"), 1, 1.0),
        (at(2, "09:00"), 2, 31.0),
    ]
    assert len(alice) == 4  # her message in the other community is its own session


def test_the_gap_and_allowance_are_configurable() -> None:
    messages = user_messages(_example().events)
    short = build_sessions(messages, gap=timedelta(minutes=5), allowance=timedelta(0))
    alice = [x for x in short if x.user == "alice" and x.community == "g1"]
    assert [x.turns for x in alice] == [1, 1, 1, 1, 1, 1]
    assert all(x.minutes == 0 for x in alice)


def test_engagement_of_a_small_community() -> None:
    s = _example()
    sessions = build_sessions(user_messages(e for e in s.events if e.community == "g1"))
    e = engagement(sessions, at(1, "00:00"), at(3, "00:00"))
    assert (e.users, e.user_days, e.sessions, e.messages) == (2, 3, 4, 7)
    assert e.minutes == 21 + 1 + 1 + 31
    assert e.minutes_per_user_day == 54 / 3
    assert e.messages_per_user_day == 7 / 3
    assert e.turns_per_session == 7 / 4
    assert e.daily_active == {at(1, "00:00").date(): 2, at(2, "00:00").date(): 1}


def test_engagement_counts_only_the_period() -> None:
    s = _example()
    sessions = build_sessions(user_messages(e for e in s.events if e.community == "g1"))
    day2 = engagement(sessions, at(2, "00:00"), at(3, "00:00"))
    assert (day2.users, day2.minutes_per_user_day, day2.turns_per_session) == (1, 31.0, 2.0)
    empty = engagement(sessions, at(5, "00:00"), at(6, "00:00"))
    assert empty.users == 0 and empty.minutes_per_user_day is None
    assert empty.daily_active == {at(5, "00:00").date(): 0}
