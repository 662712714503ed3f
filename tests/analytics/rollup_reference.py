"""Rollups recomputed straight from events with the in-memory analytics (the reference)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from bot.analytics.daily import ALL, mode_scope
from bot.analytics.events import Event, FeedbackEvent, MessageEvent, SettingEvent
from bot.analytics.modes import split_by_mode
from bot.analytics.sessions import build_sessions

WINDOW = timedelta(minutes=5)


def user_days(events: list[Event], default_mode: str = "uniform") -> dict[tuple, tuple]:
    """(user, scope, day) → (messages, sessions, minutes) on UTC days."""
    out: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0])
    mine = [e for e in events if isinstance(e, MessageEvent) and e.role == "user"]
    scopes = {ALL: mine} | {mode_scope(m): msgs
                            for m, msgs in split_by_mode(events, default_mode).items()}
    for scope, messages in scopes.items():
        for m in messages:
            out[m.user, scope, m.ts.date().toordinal()][0] += 1
        for s in build_sessions(messages):
            row = out[s.user, scope, s.start.date().toordinal()]
            row[1] += 1
            row[2] += s.minutes
    return {k: (v[0], v[1], round(v[2], 6)) for k, v in out.items()}


def reply_days(events: list[Event], default_mode: str = "uniform") -> dict[tuple, tuple]:
    """(model, mode, day) → (replies, judged, continued, up, down, regenerated)."""
    messages = sorted((e for e in events if isinstance(e, MessageEvent)), key=lambda e: e.ts)
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in events:
        if isinstance(e, FeedbackEvent):
            kinds[e.channel, e.message].add(e.kind)
    out: dict[tuple, list[int]] = defaultdict(lambda: [0] * 6)
    last_user: dict[str, MessageEvent] = {}
    for i, m in enumerate(messages):
        if m.role == "user":
            last_user[m.channel] = m
            continue
        if m.model is None:
            continue
        author = last_user.get(m.channel)
        row = out[m.model, _mode_at(events, m, default_mode), m.ts.date().toordinal()]
        row[0] += 1
        got = kinds.get((m.channel, m.id), set())
        row[3] += "up" in got
        row[4] += "down" in got
        row[5] += "regenerate" in got
        if author is None:
            continue
        row[1] += 1
        later = [x for x in messages[i + 1:] if x.role == "user" and x.channel == m.channel
                 and x.user == author.user and x.ts > m.ts]
        row[2] += bool(later) and later[0].ts <= m.ts + WINDOW
    return {k: tuple(v) for k, v in out.items()}


def _mode_at(events: list[Event], m: MessageEvent, default: str) -> str:
    changes = sorted((e for e in events if isinstance(e, SettingEvent) and e.setting == "mode"
                      and e.channel == m.channel and e.ts <= m.ts), key=lambda e: e.ts)
    return (changes[-1].value if changes else None) or default
