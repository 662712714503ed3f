"""Weekly reports on a schedule: APScheduler 3 jobs persisted in the database.

Each community with a report channel has one cron job (its weekday, hour and timezone;
default Monday 09:00 UTC). Jobs live in APScheduler's SQLAlchemy job store, so they survive
restarts; with coalescing and a week of misfire grace, a report missed while the bot was down
is sent once when it returns. Platform adapters register a sink that posts a report.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from ..storage import Store
from ..storage.tables import Community
from .build import community_report

log = logging.getLogger(__name__)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MISFIRE_GRACE_S = 7 * 24 * 3600
Sink = Callable[[str, str, bytes | None], Awaitable[None]]  # (channel id, text, png)
_running: dict[str, ReportService] = {}  # set by start(); persisted jobs find it by name


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


def sync_url(async_url: str) -> str | None:
    """The job store's (synchronous) URL for the bot's database; None for in-memory SQLite."""
    url = make_url(async_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return None if url.database in (None, "", ":memory:") else str(
            url.set(drivername="sqlite"))
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url.set(drivername=backend).render_as_string(hide_password=False)


async def run_weekly_report(name: str, community_id: int) -> None:
    """The persisted job: find the running service and send one community's report."""
    service = _running.get(name)
    if service is None:
        log.warning("report job for community %s ran with no report service", community_id)
        return
    await service.send(community_id)


class ReportService:
    def __init__(self, store: Store, database_url: str, name: str = "default",
                 on_run: Callable[[bool, float], None] | None = None) -> None:
        self.store = store
        self.on_run = on_run  # (ok, seconds late) of each scheduled run, for metrics
        self.database_url = database_url
        self.name = name
        self.sinks: dict[str, Sink] = {}
        self.scheduler: AsyncIOScheduler | None = None
        self.sent: list[tuple[int, str]] = []  # (community id, channel) of reports sent

    def register_sink(self, platform: str, sink: Sink) -> None:
        self.sinks[platform] = sink

    def _job_id(self, community_id: int) -> str:
        return f"report-{community_id}"

    async def start(self) -> None:
        """Start the scheduler; communities with a report channel get a job if they lack one."""
        url = sync_url(self.database_url)
        store = SQLAlchemyJobStore(url=url) if url else MemoryJobStore()
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": store},
            job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S,
                          "max_instances": 1},
            timezone="UTC",
        )
        _running[self.name] = self
        self.scheduler.add_listener(self._ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.scheduler.start()
        async with self.store.session() as s:
            rows = (await s.scalars(
                select(Community).where(Community.report_channel.is_not(None)))).all()
        for row in rows:
            if self.scheduler.get_job(self._job_id(row.id)) is None:
                self._add_job(row.id, Schedule(row.report_weekday, row.report_hour,
                                               row.report_timezone))

    def _ran(self, event: JobExecutionEvent) -> None:
        if self.on_run is not None and event.scheduled_run_time is not None:
            lag = (datetime.now(UTC) - event.scheduled_run_time).total_seconds()
            self.on_run(event.exception is None, lag)

    def _add_job(self, community_id: int, schedule: Schedule) -> None:
        assert self.scheduler is not None
        self.scheduler.add_job(
            run_weekly_report,
            CronTrigger(day_of_week=schedule.weekday, hour=schedule.hour, minute=0,
                        timezone=schedule.timezone),
            args=[self.name, community_id], id=self._job_id(community_id),
            name=f"weekly report of community {community_id}", replace_existing=True)

    async def shutdown(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _running.pop(self.name, None)

    async def set_channel(self, community_id: int, channel: str) -> Schedule:
        async with self.store.session() as s:
            await s.execute(update(Community).where(Community.id == community_id)
                            .values(report_channel=channel))
            await s.commit()
        schedule = await self.schedule_of(community_id)
        if self.scheduler is not None:
            self._add_job(community_id, schedule)
        return schedule

    async def set_schedule(self, community_id: int, schedule: Schedule) -> None:
        async with self.store.session() as s:
            await s.execute(update(Community).where(Community.id == community_id).values(
                report_weekday=schedule.weekday, report_hour=schedule.hour,
                report_timezone=schedule.timezone))
            await s.commit()
            has_channel = await s.scalar(
                select(Community.report_channel).where(Community.id == community_id))
        if self.scheduler is not None and has_channel:
            self._add_job(community_id, schedule)

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
