"""The short text of a report: fits a Discord embed description or a Telegram caption."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.analytics.experiment import ExperimentResult
from bot.analytics.report import Report

MAX_CHARS = 1024  # Telegram's photo caption limit (Discord embeds allow more)
TOP_MODELS = 3
RETENTION_DAYS = (1, 7, 30)


def _change(now: float | None, before: float | None) -> str:
    """` ▲ 12%`, ` ▼ 3%`, ` =` or ` (new)`: a value against last week's."""
    if now is None:
        return ""
    if not before:
        return " (new)" if now else ""
    pct = (now - before) / before * 100.0
    if abs(pct) < 0.5:
        return " ="
    return f" {'▲' if pct > 0 else '▼'} {abs(pct):.0f}%"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _week_lines(r: Report) -> list[str]:
    now, before = r.this_week, r.last_week

    def line(label: str, x: float | None, y: float | None, digits: int) -> str:
        return f"{label}: {_num(x, digits)}{_change(x, y)} ({_num(y, digits)} last week)"

    return [
        line("Active users", now.users, before.users, 0),
        line("Minutes per user per day", now.minutes_per_user_day, before.minutes_per_user_day, 1),
        line(
            "Messages per user per day", now.messages_per_user_day, before.messages_per_user_day, 1
        ),
    ]


def _model_line(r: Report, top: int) -> str | None:
    if not r.models:
        return None
    parts = [
        f"{m} {_pct(s.share)} (kept talking {_pct(s.continuation_rate)},"
        f" 👍 {_pct(s.thumbs_up_rate)})"
        for m, s in list(r.models.items())[:top]
    ]
    return "Top models: " + "; ".join(parts)


def _retention_line(r: Report) -> str:
    if r.fit.insufficient_data:
        return f"Retention: not enough data yet: {r.fit.insufficient_data}."
    measured = r.retention.as_dict()
    days = ", ".join(f"day {k} {_pct(measured[k])}" for k in RETENTION_DAYS if k in measured)
    ci = r.fit.zeta_ci
    interval = f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else ""
    cohorts = f"{r.new_users} new users since {r.since:%d %b}"
    return f"Retention ({cohorts}): {days}; decay exponent ζ = {r.fit.zeta:.2f}{interval}"


def _modes_line(r: Report) -> str | None:
    if len(r.modes) < 2:
        return None
    parts = []
    for mode, s in r.modes.items():
        zeta = f", ζ {s.fit.zeta:.2f}" if s.fit.zeta is not None else ""
        parts.append(f"{mode} {_num(s.engagement.minutes_per_user_day)} min{zeta}")
    return "Modes: " + "; ".join(parts)


def _ci(ci: tuple[float, float] | None) -> str:
    return f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else ""


def experiment_lines(x: ExperimentResult, *, detail: bool = False) -> list[str]:
    """The experiment's section: each arm's users, minutes per user-day and ζ, then Δζ and
    the winner (or why there is none). `detail`: R(1), R(7), R(30) and intervals too."""
    lines = [f"🧪 Experiment {x.name} ({x.since:%d %b} – "
             f"{(x.until - timedelta(microseconds=1)):%d %b %Y}):"]
    for arm, s in x.arms.items():
        zeta = (f"ζ {s.fit.zeta:.2f}{_ci(s.fit.zeta_ci)}" if s.fit.zeta is not None
                else "ζ –")
        spec = f" [{s.spec}]" if s.spec else ""
        line = (f"• {arm}{spec}: {s.users} users, "
                f"{_num(s.engagement.minutes_per_user_day)} min/user-day")
        if detail:
            line += _ci(s.minutes_ci)
            measured = s.retention.as_dict()
            line += ", " + ", ".join(f"R({k}) {_pct(measured[k])}" for k in RETENTION_DAYS
                                     if k in measured)
        lines.append(f"{line}, {zeta}")
    h = x.headline
    if h is not None and h.delta_zeta is not None:
        beta = f", β {h.beta:.2f}{_ci(h.beta_ci)}" if h.beta is not None else ""
        dz = h.delta_zeta_ci
        interval = f" [{dz[0]:+.2f}, {dz[1]:+.2f}]" if dz else ""
        lines.append(f"{h.arm} vs {h.reference}: Δζ {h.delta_zeta:+.2f}{interval}"
                     f" ({x.level:.0%}){beta}")
    lines.append(f"Winner: {x.winner}" if x.winner else f"Winner: none, {x.verdict}")
    return lines


def summary_text(report: Report, *, max_chars: int = MAX_CHARS,
                 extra: Sequence[str] = ()) -> str:
    """This week vs last week (▲/▼), top models, retention and ζ, then `extra` lines (an
    experiment's section), within `max_chars`."""
    last_day = (report.until - timedelta(microseconds=1)).date()
    week_start = (report.until - timedelta(days=7)).date()
    head = f"📊 {report.community} · week of {week_start:%d %b} – {last_day:%d %b %Y}"
    for top in range(TOP_MODELS, -1, -1):
        lines = [head, *_week_lines(report)]
        lines += [x for x in (_model_line(report, top) if top else None,) if x]
        lines.append(_retention_line(report))
        lines += [x for x in (_modes_line(report),) if x]
        lines += extra
        text = "\n".join(lines)
        if len(text) <= max_chars:
            return text
    return text[: max_chars - 1] + "…"
