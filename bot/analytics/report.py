"""The analytics report of one community over one period, and its JSON form.

The period is [since, until). Engagement, daily active users, model statistics and mode
comparisons cover the period; retention follows the users first seen in it (their later
days up to `until` count); "this week" and "last week" are the 7 and the 7 days before
`until`, whatever `since` is. Pass every event of the community up to `until` — older
ones too, so that returning users are not counted as new.

`Report.to_dict()` keys: `community`, `since`, `until` (UTC, `Z`); `users` (wrote in the
period), `new_users` (first seen in it), `messages`, `sessions`;
`engagement_minutes_per_user_day` with `engagement_minutes_ci`, `messages_per_user_day`,
`turns_per_session`; `daily_active_users` (ISO day → users); `this_week` and `last_week`
(`users` and the three engagement averages); `retention` ("k" → R(k)) and
`retention_users` ("k" → users observed on day k); `zeta`, `zeta_ci`, `zeta_stderr`,
`retention_r1`, `insufficient_data` (null, or why there is no fit); `models` (model id →
`replies`, `share`, `continuation_rate`, `thumbs_up_rate`, `thumbs_down_rate`,
`regenerate_rate`); `modes` (mode → `channels`, `users`, engagement with its interval,
retention and fit as above, `reference`, and `beta`/`delta_zeta` of R(k) ÷ the
reference's R(k) ≈ beta·k^(delta_zeta)). Rates and averages are null when undefined.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.analytics.bootstrap import ratio_interval
from bot.analytics.engagement import Engagement, engagement, per_user
from bot.analytics.events import Event, MessageEvent, as_utc, format_ts
from bot.analytics.model_stats import ModelStats, model_stats
from bot.analytics.modes import ModeStats, compare_modes
from bot.analytics.options import AnalysisOptions, fit_with
from bot.analytics.retention import (
    PowerLawFit,
    RetentionCurve,
    cohorts,
    retention_curve,
)
from bot.analytics.sessions import build_sessions, user_messages

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Report:
    """Engagement, retention, models and modes of one community over [since, until)."""

    community: str
    since: datetime
    until: datetime
    engagement: Engagement
    minutes_ci: tuple[float, float] | None  # for minutes per user-day, bootstrap over users
    this_week: Engagement
    last_week: Engagement
    new_users: int
    retention: RetentionCurve
    fit: PowerLawFit
    models: dict[str, ModelStats]
    modes: dict[str, ModeStats]

    @property
    def users(self) -> int:
        """Users who wrote at least one message in the period."""
        return self.engagement.users

    @property
    def insufficient_data(self) -> str | None:
        """Why retention was not fitted, if it was not."""
        return self.fit.insufficient_data

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready object (keys in the module docstring)."""
        return {
            "community": self.community,
            "since": format_ts(self.since),
            "until": format_ts(self.until),
            "users": self.users,
            "new_users": self.new_users,
            "messages": self.engagement.messages,
            "sessions": self.engagement.sessions,
            **_engagement_dict(self.engagement),
            "engagement_minutes_ci": _pair(self.minutes_ci),
            "daily_active_users": {
                day.isoformat(): n for day, n in self.engagement.daily_active.items()
            },
            "this_week": _engagement_dict(self.this_week) | {"users": self.this_week.users},
            "last_week": _engagement_dict(self.last_week) | {"users": self.last_week.users},
            **_retention_dict(self.retention, self.fit),
            "models": {m: _model_dict(s) for m, s in self.models.items()},
            "modes": {m: _mode_dict(s) for m, s in self.modes.items()},
        }

    def to_json(self) -> str:
        """`to_dict()` as one line of JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _num(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def _pair(pair: tuple[float, float] | None) -> list[float | None] | None:
    return None if pair is None else [_num(pair[0]), _num(pair[1])]


def _engagement_dict(e: Engagement) -> dict[str, Any]:
    return {
        "engagement_minutes_per_user_day": _num(e.minutes_per_user_day),
        "messages_per_user_day": _num(e.messages_per_user_day),
        "turns_per_session": _num(e.turns_per_session),
    }


def _retention_dict(curve: RetentionCurve, fit: PowerLawFit) -> dict[str, Any]:
    return {
        "retention": {str(k): _num(r) for k, r in curve.as_dict().items()},
        "retention_users": {
            str(int(k)): int(n) for k, n in zip(curve.days, curve.users, strict=True) if n
        },
        "zeta": _num(fit.zeta),
        "zeta_ci": _pair(fit.zeta_ci),
        "zeta_stderr": _num(fit.stderr),
        "retention_r1": _num(fit.r1),
        "insufficient_data": fit.insufficient_data,
    }


def _model_dict(s: ModelStats) -> dict[str, Any]:
    return {
        "replies": s.replies,
        "share": _num(s.share),
        "continuation_rate": _num(s.continuation_rate),
        "thumbs_up_rate": _num(s.thumbs_up_rate),
        "thumbs_down_rate": _num(s.thumbs_down_rate),
        "regenerate_rate": _num(s.regenerate_rate),
    }


def _mode_dict(s: ModeStats) -> dict[str, Any]:
    ratio = s.vs_reference
    return {
        "channels": s.channels,
        "users": s.engagement.users,
        **_engagement_dict(s.engagement),
        "engagement_minutes_ci": _pair(s.minutes_ci),
        **_retention_dict(s.retention, s.fit),
        "reference": s.reference,
        "beta": _num(ratio.beta) if ratio else None,
        "delta_zeta": _num(ratio.delta_zeta) if ratio else None,
    }


def build_report(
    events: Iterable[Event],
    community: str,
    since: datetime,
    until: datetime,
    options: AnalysisOptions | None = None,
    *,
    platform: str | None = None,
) -> Report:
    """The report of `community` (on `platform`, if given) for [since, until).

    Events of other communities are ignored; blocking work (run it off the event loop).
    """
    opts = options or AnalysisOptions()
    since, until = as_utc(since), as_utc(until)
    if until <= since:
        raise ValueError("until must be after since")
    mine = [
        e
        for e in events
        if e.community == community
        and (platform is None or e.platform == platform)
        and e.ts < until
    ]
    messages: list[MessageEvent] = [m for m in user_messages(mine) if m.ts < until]
    sessions = build_sessions(messages, gap=opts.gap, allowance=opts.allowance)
    table = per_user(sessions, since, until)
    c = cohorts(messages, since, until, max_day=opts.max_day)
    return Report(
        community=community,
        since=since,
        until=until,
        engagement=engagement(sessions, since, until),
        minutes_ci=ratio_interval(
            table.minutes, table.user_days, draws=opts.draws, level=opts.level, seed=opts.seed
        ),
        this_week=engagement(sessions, until - WEEK, until),
        last_week=engagement(sessions, until - 2 * WEEK, until - WEEK),
        new_users=len(c.users),
        retention=retention_curve(c),
        fit=fit_with(c, opts),
        models=model_stats(mine, since, until, window=opts.window),
        modes=compare_modes(mine, since, until, opts),
    )
