"""The report's PNG chart: daily active users, retention with its fit, per-model bars.

Drawn on matplotlib's Agg canvas without pyplot, so no global figure state is touched and
several charts may be drawn at once on worker threads. Blocking: call it off the event loop.
"""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from bot.analytics.experiment import ExperimentResult
from bot.analytics.report import Report

BLUE, ORANGE, GREEN, GREY = "#4C72B0", "#DD8452", "#55A868", "#8C8C8C"
ARM_COLOURS = (BLUE, ORANGE, GREEN, "#C44E52", "#8172B3", "#937860", "#DA8BC3", GREY)


def _empty(ax: Axes, title: str, note: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def _daily_active(ax: Axes, r: Report) -> None:
    daily = r.engagement.daily_active
    if not daily:
        _empty(ax, "Daily active users", "no days in the period")
        return
    days, counts = list(daily), list(daily.values())
    ax.bar(range(len(days)), counts, color=BLUE, width=0.8)
    step = max(1, len(days) // 8)
    ticks = list(range(0, len(days), step))
    ax.set_xticks(ticks, [f"{days[i]:%d %b}" for i in ticks], rotation=30, ha="right")
    ax.set_title("Daily active users")
    ax.set_ylabel("users")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)


def _retention(ax: Axes, r: Report) -> None:
    title = "Retention R(k) of new users"
    measured = {k: v for k, v in r.retention.as_dict().items() if v > 0}
    if not measured:
        _empty(ax, title, r.fit.insufficient_data or "no returning users yet")
        return
    k = np.array(list(measured), dtype=float)
    ax.loglog(k, list(measured.values()), "o", color=BLUE, markersize=4, label="measured")
    if r.fit.zeta is not None and r.fit.r1 is not None:
        grid = np.linspace(k.min(), k.max(), 50)
        ci = r.fit.zeta_ci
        interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
        label = f"fit {r.fit.r1:.2f}·k^(−{r.fit.zeta:.2f}), ζ 95% CI{interval}"
        ax.loglog(grid, r.fit.r1 * grid ** (-r.fit.zeta), "-", color=ORANGE, label=label)
    else:
        note = "too little data to fit"
        ax.text(0.97, 0.95, note, ha="right", va="top", transform=ax.transAxes, color=GREY)
    ax.set_title(title)
    ax.set_xlabel("days after first visit (k)")
    ax.set_ylabel("fraction active")
    bottom, top = max(min(min(measured.values()) / 1.5, 0.1), 1e-3), 1.2
    ax.set_ylim(bottom, top)
    percent = FuncFormatter(lambda v, _pos: f"{v:.0%}" if v >= 0.01 else f"{v:.1%}")
    ax.yaxis.set_major_formatter(percent)
    ax.yaxis.set_minor_formatter(percent if top / bottom < 30 else NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")


def _arms_retention(ax: Axes, x: ExperimentResult) -> None:
    """Each arm's R(k) after assignment, with its power-law fit."""
    verdict = f"winner: {x.winner}" if x.winner else x.verdict
    title = f"Experiment {x.name}: retention by arm ({verdict})"
    shown = False
    low = 1.0
    for colour, (arm, s) in zip(ARM_COLOURS * 2, x.arms.items(), strict=False):
        measured = {k: v for k, v in s.retention.as_dict().items() if v > 0}
        if not measured:
            continue
        shown = True
        k = np.array(list(measured), dtype=float)
        low = min(low, min(measured.values()))
        ax.loglog(k, list(measured.values()), "o", color=colour, markersize=3.5,
                  label=f"{arm} ({s.users} users)")
        if s.fit.zeta is not None and s.fit.r1 is not None:
            grid = np.linspace(k.min(), k.max(), 50)
            ci = s.fit.zeta_ci
            interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
            ax.loglog(grid, s.fit.r1 * grid ** (-s.fit.zeta), "-", color=colour,
                      label=f"{arm} fit ζ {s.fit.zeta:.2f}{interval}")
    if not shown:
        _empty(ax, title, x.insufficient_data or "no returning users yet")
        return
    ax.set_title(title)
    ax.set_xlabel("days after assignment (k)")
    ax.set_ylabel("fraction active")
    ax.set_ylim(max(min(low / 1.5, 0.1), 1e-3), 1.2)
    percent = FuncFormatter(lambda v, _pos: f"{v:.0%}" if v >= 0.01 else f"{v:.1%}")
    ax.yaxis.set_major_formatter(percent)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")


def render_experiment_chart(experiment: ExperimentResult, *, dpi: int = 100) -> bytes:
    """The arms' retention curves with their fits, as PNG bytes."""
    fig = Figure(figsize=(9, 6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    _arms_retention(fig.subplots(), experiment)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _model_bars(ax: Axes, r: Report, what: str) -> None:
    title = "Share of replies" if what == "share" else "User kept talking (≤ 5 min)"
    if not r.models:
        _empty(ax, title, "no replies in the period")
        return
    names = list(r.models)
    if what == "share":
        values = [r.models[m].share for m in names]
        color = GREEN
    else:
        values = [r.models[m].continuation_rate or 0.0 for m in names]
        color = ORANGE
    y = np.arange(len(names))
    ax.barh(y, values, color=color, height=0.6)
    ax.set_yticks(y, names)
    ax.set_ylim(max(len(names), 3) - 0.5, -0.5)  # top to bottom; thin bars for few models
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction")
    for yi, v in enumerate(values):  # bar i is at y = i
        ax.text(min(v + 0.02, 0.85), yi, f"{v:.0%}", va="center", fontsize=9)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)


def render_chart(report: Report, *, dpi: int = 100,
                 experiment: ExperimentResult | None = None) -> bytes:
    """The report's chart as PNG bytes (about 1100×750 pixels at the default dpi; with an
    experiment, a third row shows its arms' retention)."""
    fig = Figure(figsize=(11, 7.5 if experiment is None else 11), dpi=dpi,
                 layout="constrained")
    FigureCanvasAgg(fig)
    last_day = report.until - timedelta(microseconds=1)
    fig.suptitle(f"{report.community}: {report.since:%d %b} – {last_day:%d %b %Y} (UTC)")
    if experiment is None:
        (a, b), (c, d) = fig.subplots(2, 2)
    else:
        axes = fig.subplot_mosaic([["a", "b"], ["c", "d"], ["x", "x"]])
        a, b, c, d = (axes[k] for k in "abcd")
        _arms_retention(axes["x"], experiment)
    _daily_active(a, report)
    _retention(b, report)
    _model_bars(c, report, "share")
    _model_bars(d, report, "continuation")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
