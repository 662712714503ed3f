"""Engagement: how long and how much visiting users chat per day.

A *user-day* is one user writing at least one message on one UTC day; the averages below
are per user-day, i.e. per visiting user per day, as in the Blended paper. A session's
minutes count on the day and in the period it started in (see `sessions` for durations).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from bot.analytics.events import as_utc
from bot.analytics.sessions import Session


@dataclass(frozen=True, slots=True)
class UserEngagement:
    """Per-user totals over a period, one array entry per visiting user (same order)."""

    users: tuple[str, ...]
    minutes: np.ndarray  # session minutes
    user_days: np.ndarray  # days with at least one message
    messages: np.ndarray
    sessions: np.ndarray


@dataclass(frozen=True, slots=True)
class Engagement:
    """Totals and per-user-day averages over a period; averages are None without visitors."""

    users: int
    user_days: int
    sessions: int
    messages: int
    minutes: float
    daily_active: dict[date, int] = field(default_factory=dict)

    @property
    def minutes_per_user_day(self) -> float | None:
        return self.minutes / self.user_days if self.user_days else None

    @property
    def messages_per_user_day(self) -> float | None:
        return self.messages / self.user_days if self.user_days else None

    @property
    def turns_per_session(self) -> float | None:
        """User messages per session."""
        return self.messages / self.sessions if self.sessions else None


def _in(t: datetime, since: datetime, until: datetime) -> bool:
    return since <= t < until


def per_user(sessions: Iterable[Session], since: datetime, until: datetime) -> UserEngagement:
    """Each visiting user's minutes, user-days, messages and sessions in [since, until).

    Pass one community's sessions: users are told apart by id only.
    """
    minutes: dict[str, float] = defaultdict(float)
    days: dict[str, set[date]] = defaultdict(set)
    messages: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for s in sessions:
        key = s.user
        if _in(s.start, since, until):
            minutes[key] += s.minutes
            count[key] += 1
        for t in s.times:
            if _in(t, since, until):
                days[key].add(t.date())
                messages[key] += 1
    users = tuple(sorted(days))
    return UserEngagement(
        users=users,
        minutes=np.array([minutes[u] for u in users], dtype=float),
        user_days=np.array([len(days[u]) for u in users], dtype=float),
        messages=np.array([messages[u] for u in users], dtype=float),
        sessions=np.array([count[u] for u in users], dtype=float),
    )


def daily_active_users(
    sessions: Iterable[Session], since: datetime, until: datetime
) -> dict[date, int]:
    """Distinct users who wrote on each UTC day of [since, until), zero days included."""
    since, until = as_utc(since), as_utc(until)
    seen: dict[date, set[str]] = defaultdict(set)
    for s in sessions:
        for t in s.times:
            if _in(t, since, until):
                seen[t.date()].add(s.user)
    out: dict[date, int] = {}
    day = since.date()
    while datetime.combine(day, time(), UTC) < until:
        out[day] = len(seen.get(day, ()))
        day += timedelta(days=1)
    return out


def engagement(sessions: Iterable[Session], since: datetime, until: datetime) -> Engagement:
    """Engagement of every user who wrote in [since, until)."""
    since, until = as_utc(since), as_utc(until)
    sessions = list(sessions)
    table = per_user(sessions, since, until)
    return Engagement(
        users=len(table.users),
        user_days=int(table.user_days.sum()),
        sessions=int(table.sessions.sum()),
        messages=int(table.messages.sum()),
        minutes=float(table.minutes.sum()),
        daily_active=daily_active_users(sessions, since, until),
    )
