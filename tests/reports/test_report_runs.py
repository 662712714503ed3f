"""Two schedulers (two processes, or two services with their own engines) over one database
send each due report exactly once, also when the first sender is killed mid-send."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from sqlalchemy import select

from bot.reports.scheduler import ReportService
from bot.storage import Store
from bot.storage.tables import ReportRun
from tests.conftest import Database

ROOT = Path(__file__).resolve().parents[2]
SUNDAY = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 09:00 UTC, the default schedule


class Sink:
    def __init__(self) -> None:
        self.posts: list[str] = []

    async def __call__(self, channel: str, text: str, png: bytes | None) -> None:
        assert text
        self.posts.append(channel)


async def wait_for(check, within: float) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def set_up(database: Database, n: int) -> list[int]:
    """n communities with a report channel, set up on the Sunday before it is due."""
    store = database.store()
    await store.open()
    reports = ReportService(store)
    ids = []
    with time_machine.travel(SUNDAY, tick=False):
        for i in range(n):
            channel = await store.ensure_channel("discord", f"g{i}", "Guild", f"c{i}", "gen")
            await store.add_message(channel.id, "user", "hello")
            await reports.set_channel(channel.community_id, f"reports-{i}")
            ids.append(channel.community_id)
    await store.close()
    return ids


def sender(database: Database, posts: Path, now: datetime, lease_s: float,
           mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reports.sender", database.url,
         json.dumps(database.engine_kwargs), str(posts), now.isoformat(), str(lease_s), mode],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def runs(store: Store) -> list[tuple[str, int]]:
    async with store.session() as s:
        return [(r.status, r.attempts) for r in (await s.scalars(
            select(ReportRun).where(ReportRun.status != "skipped"))).all()]


async def test_two_services_with_their_own_engines_send_each_report_once(
        database: Database) -> None:
    ids = await set_up(database, 6)
    stores = [database.store(), database.store()]
    with time_machine.travel(DUE + timedelta(seconds=1), tick=True):
        services, sinks = [], []
        for store in stores:
            await store.open()
            svc, sink = ReportService(store, poll_s=0.1), Sink()
            svc.register_sink("discord", sink)
            services.append(svc)
            sinks.append(sink)
        # both wake at once and race for every run, several times over
        await asyncio.gather(*(svc.run_due() for svc in services * 3))
        for svc in services:
            await svc.start()
        await asyncio.sleep(1.0)
        posted = Counter(sinks[0].posts + sinks[1].posts)
        assert posted == Counter({f"reports-{i}": 1 for i in range(len(ids))})
        assert sorted(await runs(stores[0])) == [("sent", 1)] * len(ids)
        for svc in services:
            await svc.shutdown()
    for store in stores:
        await store.close()


async def test_two_processes_send_each_report_once(database: Database, tmp_path: Path) -> None:
    ids = await set_up(database, 4)
    posts = tmp_path / "posts.txt"
    other = sender(database, posts, DUE + timedelta(seconds=1), 300, "ok")
    store = database.store()
    await store.open()
    try:
        with time_machine.travel(DUE + timedelta(seconds=1), tick=True):
            svc, sink = ReportService(store, poll_s=0.1), Sink()
            svc.register_sink("discord", sink)
            await svc.start()
            await wait_for(lambda: len(lines(posts)) + len(sink.posts) >= len(ids), 60)
            await asyncio.sleep(1.5)  # time for a second send, if there were to be one
            posted = Counter(lines(posts) + sink.posts)
            assert posted == Counter({f"reports-{i}": 1 for i in range(len(ids))})
            await svc.shutdown()
    finally:
        other.kill()
        other.wait()
        await store.close()


async def test_a_sender_killed_mid_send_is_sent_once_by_another_after_its_lease(
        database: Database, tmp_path: Path) -> None:
    await set_up(database, 1)
    posts = tmp_path / "posts.txt"
    lease_s = 4.0
    first = sender(database, posts, DUE + timedelta(seconds=1), lease_s, "hang")
    try:
        await wait_for(lambda: lines(posts), 60)  # it has claimed the run and is sending...
    finally:
        first.send_signal(signal.SIGKILL)  # ... and dies before the platform accepted it
        first.wait()
    store = database.store()
    await store.open()
    with time_machine.travel(DUE + timedelta(seconds=2), tick=True):
        svc, sink = ReportService(store, poll_s=0.1, lease_s=lease_s), Sink()
        svc.register_sink("discord", sink)
        await svc.start()
        await asyncio.sleep(1.0)
        assert sink.posts == []  # the dead sender's lease still holds
        await wait_for(lambda: sink.posts, 10)  # it lapses at 09:00:05
        await asyncio.sleep(1.0)
        assert sink.posts == ["reports-0"]
        assert await runs(store) == [("sent", 2)]
        await svc.shutdown()
    await store.close()
