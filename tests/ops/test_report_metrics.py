"""Scheduled report runs and their lag reach the metrics (a run missed while down is late)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import time_machine

from bot.ops.metrics import Metrics
from bot.reports.scheduler import ReportService, parse_schedule
from bot.storage import Store
from tests.reports.test_scheduler import MONDAY_0859, Sink, community, wait_for


async def test_a_report_sent_after_downtime_counts_one_run_days_late(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'blendbot.db'}"
    with time_machine.travel(MONDAY_0859 - timedelta(days=2), tick=True):
        store = Store(url)
        await store.open()
        reports = ReportService(store)
        cid = await community(store)
        await reports.start()
        await reports.set_channel(cid, "c-reports")
        await reports.set_schedule(cid, parse_schedule("mon", "9", "UTC"))
        await reports.shutdown()
        await store.close()
    metrics = Metrics()
    with time_machine.travel(MONDAY_0859 + timedelta(days=9), tick=True):  # two Mondays later
        store = Store(url)
        await store.open()
        reports = ReportService(store, on_run=metrics.report_ran)
        sink = Sink()
        reports.register_sink("discord", sink)
        await reports.start()
        await wait_for(lambda: metrics.registry.get_sample_value(
            "blendbot_report_runs_total", {"result": "ok"}) == 1.0)
        await reports.shutdown()
        await store.close()
    assert len(sink.posts) == 1
    lag_sum = metrics.registry.get_sample_value("blendbot_report_lag_seconds_sum")
    assert lag_sum is not None and timedelta(days=1) < timedelta(seconds=lag_sum) < timedelta(
        days=3)
