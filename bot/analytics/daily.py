"""Daily rollups of one user's or one channel's messages: what the reports are built from.

A report needs far less than the history: per user and day, how many messages, sessions and
session minutes (in all and per blend mode); per channel, model and day, the replies and
what followed. These functions fold time-ordered message rows into those day counts; the
storage layer keeps them in tables and rebuilds a user's or a channel's rows when its
messages change. Days are dates in the community's timezone, stored as `date.toordinal()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.analytics.model_stats import DEFAULT_WINDOW
from bot.analytics.sessions import DEFAULT_ALLOWANCE, DEFAULT_GAP

ALL = ""  # the scope of all of a community's messages


def mode_scope(mode: str) -> str:
    """The scope of the messages written under blend mode `mode`."""
    return f"mode:{mode}"


def day_of(ts: datetime, tz: ZoneInfo) -> int:
    """The ordinal of the day `ts` falls on in `tz`."""
    return ts.astimezone(tz).date().toordinal()


@dataclass(slots=True)
class UserDay:
    messages: int = 0
    sessions: int = 0
    minutes: float = 0.0


def user_days(
    messages: Iterable[tuple[datetime, str]],
    tz: ZoneInfo,
    *,
    gap: timedelta = DEFAULT_GAP,
    allowance: timedelta = DEFAULT_ALLOWANCE,
) -> dict[tuple[str, int], UserDay]:
    """(scope, day) → counts for one user's messages: (time, mode) pairs in time order.

    Sessions are rebuilt per scope: across all modes, and within each mode on its own.
    """
    out: dict[tuple[str, int], UserDay] = {}
    runs: dict[str, tuple[datetime, datetime]] = {}  # scope → open session (start, last)

    def close(scope: str) -> None:
        start, last = runs.pop(scope)
        row = out[scope, day_of(start, tz)]
        row.sessions += 1
        row.minutes += (last - start + allowance).total_seconds() / 60.0

    for ts, mode in messages:
        for scope in (ALL, mode_scope(mode)):
            out.setdefault((scope, day_of(ts, tz)), UserDay()).messages += 1
            run = runs.get(scope)
            if run is not None and ts - run[1] > gap:
                close(scope)
                run = None
            runs[scope] = (run[0] if run else ts, ts)
    for scope in list(runs):
        close(scope)
    return out


@dataclass(slots=True)
class ReplyDay:
    replies: int = 0
    judged: int = 0
    continued: int = 0
    late_judged: int = 0  # judged replies whose window runs past the end of their day
    late_continued: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    regenerated: int = 0


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One message of a channel: `user` is its author's id (None for bot replies)."""

    ts: datetime
    is_user: bool
    user: int | None
    model: str | None
    mode: str
    kinds: frozenset[str] = frozenset()  # feedback kinds on it


@dataclass(slots=True)
class ChannelDays:
    replies: dict[tuple[str, str, int], ReplyDay]  # (mode, model, day)
    messages: dict[tuple[str, int], int]  # (mode, day) → users' messages


def channel_days(
    rows: Iterable[ChannelRow], tz: ZoneInfo, *, window: timedelta = DEFAULT_WINDOW
) -> ChannelDays:
    """Reply and message counts of one channel's messages given in time order.

    A reply is judged when some user wrote before it in the channel; it is continued when
    that user wrote again after it within `window` (see `bot.analytics.model_stats`).
    """
    out = ChannelDays({}, {})
    last_author: int | None = None
    # replies waiting for their author's next message: author → (reply time, row, late)
    waiting: dict[int, list[tuple[datetime, ReplyDay, bool]]] = {}
    for r in rows:
        if r.is_user:
            author = -1 if r.user is None else r.user  # an unknown author is one more user
            key = (r.mode, day_of(r.ts, tz))
            out.messages[key] = out.messages.get(key, 0) + 1
            open_ = waiting.pop(author, [])
            for ts, row, late in open_:
                if ts < r.ts <= ts + window:
                    row.continued += 1
                    row.late_continued += late
            same_time = [w for w in open_ if w[0] >= r.ts]  # only a later message answers
            if same_time:
                waiting[author] = same_time
            last_author = author
            continue
        if r.model is None:
            continue
        day = day_of(r.ts, tz)
        row = out.replies.setdefault((r.mode, r.model, day), ReplyDay())
        row.replies += 1
        row.thumbs_up += "up" in r.kinds
        row.thumbs_down += "down" in r.kinds
        row.regenerated += "regenerate" in r.kinds
        if last_author is None:
            continue
        late = r.ts + window > _next_day_start(day, tz)
        row.judged += 1
        row.late_judged += late
        waiting.setdefault(last_author, []).append((r.ts, row, late))
    return out


def _next_day_start(day: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(date.fromordinal(day + 1), time(), tz)
