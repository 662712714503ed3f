"""Weekly reports fire at their cron time, survive a restart, and a missed one is sent once.

The clock is controlled with time-machine: the scheduler reads `datetime.now`, which it moves.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from bot.reports.scheduler import ReportService, ScheduleError, parse_schedule
from bot.storage import Store

MONDAY_0859 = datetime(2026, 11, 23, 8, 59, 58, tzinfo=UTC)  # a Monday


class Sink:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes | None]] = []

    async def __call__(self, channel: str, text: str, png: bytes | None) -> None:
        self.posts.append((channel, text, png))


async def wait_for(check, within: float = 8.0) -> None:
    for _ in range(int(within / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def community(store: Store) -> int:
    channel = await store.ensure_channel("discord", "g1", "Guild", "c1", "general")
    await store.add_message(channel.id, "user", "hello")
    return channel.community_id


async def service(tmp_path: Path) -> tuple[Store, ReportService, Sink]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'blendbot.db'}"
    store = Store(url)
    await store.open()
    reports = ReportService(store, poll_s=0.2)
    sink = Sink()
    reports.register_sink("discord", sink)
    return store, reports, sink


async def test_report_fires_at_its_cron_time(tmp_path: Path) -> None:
    with time_machine.travel(MONDAY_0859, tick=True):
        store, reports, sink = await service(tmp_path)
        cid = await community(store)
        await reports.start()
        await reports.set_channel(cid, "c-reports")  # default: Monday 09:00 UTC
        assert await reports.next_run(cid) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        assert sink.posts == []
        await wait_for(lambda: sink.posts)
        channel, text, png = sink.posts[0]
        assert channel == "c-reports" and text and png[:4] == b"\x89PNG"
        assert await reports.next_run(cid) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        await asyncio.sleep(0.6)
        assert len(sink.posts) == 1
        await reports.shutdown()
        await store.close()


async def test_job_survives_restart_and_a_missed_run_is_sent_once(tmp_path: Path) -> None:
    with time_machine.travel(MONDAY_0859 - timedelta(days=2), tick=True):
        store, reports, sink = await service(tmp_path)
        cid = await community(store)
        await reports.start()
        await reports.set_channel(cid, "c-reports")
        await reports.set_schedule(cid, parse_schedule("monday", "9", "UTC"))
        await reports.shutdown()  # the bot goes down on Saturday...
        await store.close()
    # ... and comes back the Wednesday after next: two Monday runs were missed
    with time_machine.travel(MONDAY_0859 + timedelta(days=9), tick=True):
        store, reports, sink = await service(tmp_path)
        await reports.start()  # the owed run is found in the database
        await wait_for(lambda: sink.posts)
        await asyncio.sleep(1.0)
        assert len(sink.posts) == 1  # coalesced: sent once
        assert await reports.next_run(cid) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
        await reports.shutdown()
        await store.close()


async def test_schedule_in_a_timezone(tmp_path: Path) -> None:
    with time_machine.travel(MONDAY_0859, tick=True):
        store, reports, _ = await service(tmp_path)
        cid = await community(store)
        await reports.start()
        await reports.set_channel(cid, "c")
        await reports.set_schedule(cid, parse_schedule("fri", 18, "Europe/Berlin"))
        assert await reports.next_run(cid) == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
        await reports.shutdown()
        await store.close()


@pytest.mark.parametrize(("weekday", "hour", "tz", "says"), [
    ("funday", "9", "UTC", "not a weekday"),
    ("mon", "25", "UTC", "not an hour"),
    ("mon", "nine", "UTC", "not an hour"),
    ("mon", "9", "Mars/Olympus", "not a timezone"),
])
def test_bad_schedules_are_refused(weekday: str, hour: str, tz: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_schedule(weekday, hour, tz)


async def test_a_report_set_up_after_its_time_waits_for_next_week(tmp_path: Path) -> None:
    with time_machine.travel(MONDAY_0859 + timedelta(hours=1), tick=True):
        store, reports, sink = await service(tmp_path)
        cid = await community(store)
        await reports.start()
        await reports.set_channel(cid, "c")  # this Monday's 09:00 has passed: not owed
        await asyncio.sleep(0.6)
        assert sink.posts == []
        assert await reports.next_run(cid) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        await reports.shutdown()
        await store.close()
