"""Chat sessions reconstructed from the times of a user's own messages.

A session is a run of one user's messages in one community (any of its channels) with no
silence longer than `gap` (30 minutes by default) between consecutive messages.

Its duration is the time from its first to its last message plus `allowance` (1 minute by
default). The time between two messages of a session is time spent chatting (reading the
reply, writing the next message); the allowance stands for the part no timestamp brackets:
writing the first message and reading the reply to the last one. A one-message session
therefore lasts `allowance`, never zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.analytics.events import MessageEvent

DEFAULT_GAP = timedelta(minutes=30)
DEFAULT_ALLOWANCE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Session:
    """One user's uninterrupted stretch of chatting in a community."""

    community: str
    user: str
    times: tuple[datetime, ...]  # the user's message times, ascending; never empty
    allowance: timedelta = DEFAULT_ALLOWANCE

    @property
    def start(self) -> datetime:
        return self.times[0]

    @property
    def end(self) -> datetime:
        return self.times[-1]

    @property
    def turns(self) -> int:
        """How many messages the user wrote in the session."""
        return len(self.times)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start + self.allowance

    @property
    def minutes(self) -> float:
        return self.duration.total_seconds() / 60.0

    @property
    def day(self) -> date:
        """The UTC day the session started on (a session is counted on one day only)."""
        return self.start.date()


def user_messages(events: Iterable[object]) -> list[MessageEvent]:
    """The users' messages (no bot replies) among any events, in time order."""
    found = [e for e in events if isinstance(e, MessageEvent) and e.role == "user"]
    found.sort(key=lambda e: e.ts)
    return found


def build_sessions(
    messages: Iterable[MessageEvent],
    *,
    gap: timedelta = DEFAULT_GAP,
    allowance: timedelta = DEFAULT_ALLOWANCE,
) -> list[Session]:
    """The sessions of every (community, user), ordered by start time.

    Only users' messages count; bot replies in the input are ignored. A silence longer
    than `gap` ends a session; exactly `gap` does not.
    """
    if gap <= timedelta(0):
        raise ValueError("gap must be positive")
    by_user: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for m in messages:
        if m.role == "user":
            by_user[(m.community, m.user)].append(m.ts)
    sessions: list[Session] = []
    for (community, user), times in by_user.items():
        times.sort()
        run = [times[0]]
        for t in times[1:]:
            if t - run[-1] > gap:
                sessions.append(Session(community, user, tuple(run), allowance))
                run = []
            run.append(t)
        sessions.append(Session(community, user, tuple(run), allowance))
    sessions.sort(key=lambda s: (s.start, s.community, s.user))
    return sessions
