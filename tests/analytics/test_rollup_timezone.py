"""Report days follow the community's timezone; changing it rebuilds the rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select, update

from bot.analytics.events import MessageEvent
from bot.storage import Store
from bot.storage.events import Events
from bot.storage.rollups import Rollups
from bot.storage.tables import Community, RollupUserDay


async def _days(store: Store) -> set[date]:
    async with store.session() as s:
        return {date.fromordinal(d) for d in await s.scalars(
            select(RollupUserDay.day).where(RollupUserDay.scope == ""))}


async def test_days_are_the_community_timezone_days(store: Store) -> None:
    ts = datetime(2026, 11, 2, 20, 0, tzinfo=UTC)  # 3 Nov 05:00 in Tokyo
    await Events(store).import_events(
        [MessageEvent("m1", ts, "discord", "g", "c", "u", "user", None, "hi")])
    assert await _days(store) == {date(2026, 11, 2)}
    async with store.session() as s:
        await s.execute(update(Community).values(report_timezone="Asia/Tokyo"))
        await s.commit()
    await Rollups(store).catch_up()
    assert await _days(store) == {date(2026, 11, 3)}
