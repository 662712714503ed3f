"""Weekly reports on a schedule, sent exactly once per community and period by any process.

Each community with a report channel is due every week at its weekday and hour in its
timezone (default Monday 09:00 UTC). Every process runs the same small loop: it wakes up at
the next due time (or every `poll_s`, to see schedules other processes changed), and for each
community whose latest due period is not yet settled it *claims* the run in the database
(bot/reports/runs.py), sends it, and marks it sent once the platform accepted it. The claim
is a lease: a sender killed mid-send is taken over by another process when it lapses. A
report missed while every process was down is sent once when one returns (only the latest
period is owed: missed weeks coalesce). Platform adapters register a sink that posts it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from ..storage import Store
from ..storage.tables import Community
from . import runs
from .build import community_report

log = logging.getLogger(__name__)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Sink = Callable[[str, str, bytes | None], Awaitable[None]]  # (channel id, text, png)


class ScheduleError(ValueError):
    """A bad weekday, hour or timezone; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Schedule:
    weekday: str
    hour: int
    timezone: str


def parse_schedule(weekday: str, hour: str | int, timezone: str) -> Schedule:
    day = weekday.strip().lower()[:3]
    if day not in WEEKDAYS or not weekday.strip().isalpha():
        raise ScheduleError(f"'{weekday}' is not a weekday (use mon, tue, … sun)")
    try:
        h = int(hour)
    except (TypeError, ValueError):
        raise ScheduleError(f"'{hour}' is not an hour (0–23)") from None
    if not 0 <= h <= 23:
        raise ScheduleError(f"'{hour}' is not an hour (0–23)")
    try:
        zoneinfo.ZoneInfo(timezone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"'{timezone}' is not a timezone (use a name like UTC or Europe/Berlin)") from None
    return Schedule(day, h, timezone.strip())


def latest_due(schedule: Schedule, now: datetime) -> datetime:
    """The latest due time at or before `now` (UTC) of a weekly schedule."""
    tz = zoneinfo.ZoneInfo(schedule.timezone)
    today = now.astimezone(tz).date()
    weekday = WEEKDAYS.index(schedule.weekday)
    for back in range(8):
        day = today - timedelta(days=back)
        if day.weekday() == weekday:
            due = datetime(day.year, day.month, day.day, schedule.hour, tzinfo=tz).astimezone(UTC)
            if due <= now:
                return due
    raise AssertionError("a weekly schedule is due within 8 days")  # pragma: no cover


def next_due(schedule: Schedule, now: datetime) -> datetime:
    """The first due time after `now` (UTC)."""
    return latest_due(schedule, now + timedelta(days=7))


def period_of(due: datetime) -> str:
    return due.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReportService:
    """Sends due weekly reports; safe to run in any number of processes over one database."""

    def __init__(self, store: Store, *, poll_s: float = 30.0, lease_s: float = 300.0,
                 owner: str | None = None,
                 on_run: Callable[[bool, float], None] | None = None) -> None:
        self.store = store
        self.on_run = on_run  # (ok, seconds late) of each scheduled run, for metrics
        self.poll_s = poll_s
        self.lease_s = lease_s  # longer than any send takes; a killed sender is retried after
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.sinks: dict[str, Sink] = {}
        self.sent: list[tuple[int, str]] = []  # (community id, channel) of reports sent
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def register_sink(self, platform: str, sink: Sink) -> None:
        self.sinks[platform] = sink
        self._wake.set()

    async def start(self) -> None:
        """Start this process's loop: wake up at due times, claim due runs, send them."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="weekly-reports")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                wake_at = await self.run_due()
            except Exception:  # the database is away: try again at the next poll
                log.exception("could not check for due reports")
                wake_at = None
            delay = self.poll_s
            if wake_at is not None:
                delay = min(delay, max(0.0, (wake_at - utcnow()).total_seconds()))
            self._wake.clear()
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(delay):  # that lands as the wake-up does
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def run_due(self) -> datetime | None:
        """Claim and send every due, unsettled report a sink is registered for.

        Returns the next due time among them (when to wake up next)."""
        now = utcnow()
        async with self.store.session() as s:
            rows = (await s.execute(
                select(Community.id, Community.platform, Community.report_weekday,
                       Community.report_hour, Community.report_timezone)
                .where(Community.report_channel.is_not(None)))).all()
        periods: dict[int, str] = {}
        due_at: dict[int, datetime] = {}
        wake_at: datetime | None = None
        for cid, platform, weekday, hour, tz in rows:
            if platform not in self.sinks:
                continue
            schedule = Schedule(weekday, hour, tz)
            due_at[cid] = latest_due(schedule, now)
            periods[cid] = period_of(due_at[cid])
            upcoming = next_due(schedule, now)
            wake_at = upcoming if wake_at is None else min(wake_at, upcoming)
        done = await runs.settled(self.store, periods, now)
        for cid, period in periods.items():
            if cid in done or not await runs.claim(self.store, cid, period, self.owner, now,
                                                   self.lease_s):
                continue
            try:
                await self.send(cid)
            except Exception:  # the lease lapses and a process retries it
                log.exception("the weekly report of community %s failed; it will be retried",
                              cid)
                self._ran(False, due_at[cid])
                continue
            self._ran(True, due_at[cid])
            if not await runs.mark_sent(self.store, cid, period, self.owner, utcnow()):
                log.warning("the weekly report of community %s outlived its lease of %ss",
                            cid, self.lease_s)
        return wake_at

    def _ran(self, ok: bool, due: datetime) -> None:
        if self.on_run is not None:
            self.on_run(ok, (utcnow() - due).total_seconds())

    async def _settle_current(self, community_id: int, schedule: Schedule) -> None:
        """The period already due when a report is set up (or moved) is not owed."""
        await runs.skip(self.store, community_id, period_of(latest_due(schedule, utcnow())))
        self._wake.set()

    async def set_channel(self, community_id: int, channel: str) -> Schedule:
        async with self.store.session() as s:
            await s.execute(update(Community).where(Community.id == community_id)
                            .values(report_channel=channel))
            await s.commit()
        schedule = await self.schedule_of(community_id)
        await self._settle_current(community_id, schedule)
        return schedule

    async def set_schedule(self, community_id: int, schedule: Schedule) -> None:
        await self._settle_current(community_id, schedule)
        async with self.store.session() as s:
            await s.execute(update(Community).where(Community.id == community_id).values(
                report_weekday=schedule.weekday, report_hour=schedule.hour,
                report_timezone=schedule.timezone))
            await s.commit()
        self._wake.set()

    async def next_run(self, community_id: int) -> datetime | None:
        """When this community's next report is due (None: no report channel)."""
        async with self.store.session() as s:
            row = await s.get_one(Community, community_id)
            if row.report_channel is None:
                return None
            return next_due(Schedule(row.report_weekday, row.report_hour,
                                     row.report_timezone), utcnow())

    async def schedule_of(self, community_id: int) -> Schedule:
        async with self.store.session() as s:
            row = await s.get_one(Community, community_id)
            return Schedule(row.report_weekday, row.report_hour, row.report_timezone)

    async def send(self, community_id: int, channel: str | None = None) -> str:
        """Build and post one community's report; returns a line saying what happened."""
        async with self.store.session() as s:
            row = await s.get_one(Community, community_id)
            platform, external, target = row.platform, row.external_id, row.report_channel
        target = channel or target
        sink = self.sinks.get(platform)
        if target is None or sink is None:
            return "No report channel is set here yet."
        built = await community_report(self.store, platform, external)
        try:
            await sink(target, built.text, built.png)
        except Exception:
            log.exception("could not post the report of %s:%s", platform, external)
            if built.png is None:
                raise
            await sink(target, built.text, None)  # the text still goes out
        self.sent.append((community_id, target))
        log.info("sent the weekly report of %s:%s to %s", platform, external, target)
        return "Report sent."
