"""Blend modes compared: engagement and retention of the messages written under each mode.

A user message belongs to the mode its channel had when it was written: the value of the
channel's latest `mode` setting event at or before it, else the default mode. Each mode's
messages are then analysed on their own (sessions, engagement, cohorts first seen in that
mode), so a channel that switched modes contributes to both. The mode with the most users
is the reference the others' retention curves are compared with.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from bot.analytics.bootstrap import ratio_interval
from bot.analytics.engagement import Engagement, engagement, per_user
from bot.analytics.events import Event, MessageEvent, SettingEvent, as_utc
from bot.analytics.options import AnalysisOptions, fit_with
from bot.analytics.retention import (
    PowerLawFit,
    RatioFit,
    RetentionCurve,
    cohorts,
    curve_ratio,
    retention_curve,
)
from bot.analytics.sessions import build_sessions

ChannelKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class ModeStats:
    """One blend mode's engagement and retention, with bootstrap intervals."""

    mode: str
    channels: int
    engagement: Engagement
    minutes_ci: tuple[float, float] | None  # for minutes per user-day
    retention: RetentionCurve
    fit: PowerLawFit
    reference: str | None  # the mode compared with; None for the reference itself
    vs_reference: RatioFit | None  # this mode's R(k) / the reference's


def split_by_mode(events: Iterable[Event], default_mode: str) -> dict[str, list[MessageEvent]]:
    """User messages grouped by the mode their channel had when each was written."""
    events = list(events)
    changes: dict[ChannelKey, list[tuple[datetime, str]]] = defaultdict(list)
    for e in events:
        if isinstance(e, SettingEvent) and e.setting == "mode":
            changes[(e.platform, e.community, e.channel)].append((e.ts, e.value or default_mode))
    times: dict[ChannelKey, list[datetime]] = {}
    for key, timeline in changes.items():
        timeline.sort(key=lambda change: change[0])
        times[key] = [t for t, _ in timeline]
    out: dict[str, list[MessageEvent]] = defaultdict(list)
    for e in events:
        if not isinstance(e, MessageEvent) or e.role != "user":
            continue
        key = (e.platform, e.community, e.channel)
        i = bisect_right(times.get(key, []), e.ts)
        out[changes[key][i - 1][1] if i else default_mode].append(e)
    return dict(out)


def compare_modes(
    events: Iterable[Event],
    since: datetime,
    until: datetime,
    options: AnalysisOptions | None = None,
) -> dict[str, ModeStats]:
    """Each mode used in [since, until), most users first."""
    opts = options or AnalysisOptions()
    since, until = as_utc(since), as_utc(until)
    found: list[ModeStats] = []
    for mode, messages in split_by_mode(events, opts.default_mode).items():
        in_period = [m for m in messages if since <= m.ts < until]
        if in_period:
            found.append(_mode_stats(mode, messages, in_period, since, until, opts))
    found.sort(key=lambda m: (-m.engagement.users, m.mode))
    if not found:
        return {}
    ref = found[0]
    out = {ref.mode: ref}
    for other in found[1:]:
        ratio = curve_ratio(other.retention, ref.retention, min_point_users=opts.min_point_users)
        out[other.mode] = replace(other, reference=ref.mode, vs_reference=ratio)
    return out


def _mode_stats(
    mode: str,
    messages: list[MessageEvent],
    in_period: list[MessageEvent],
    since: datetime,
    until: datetime,
    opts: AnalysisOptions,
) -> ModeStats:
    sessions = build_sessions(messages, gap=opts.gap, allowance=opts.allowance)
    table = per_user(sessions, since, until)
    c = cohorts(messages, since, until, max_day=opts.max_day)
    return ModeStats(
        mode=mode,
        channels=len({(m.platform, m.community, m.channel) for m in in_period}),
        engagement=engagement(sessions, since, until),
        minutes_ci=ratio_interval(
            table.minutes, table.user_days, draws=opts.draws, level=opts.level, seed=opts.seed
        ),
        retention=retention_curve(c),
        fit=fit_with(c, opts),
        reference=None,
        vs_reference=None,
    )
