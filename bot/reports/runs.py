"""Report runs in the database: claim one community's report for one period, lease it, mark it.

One row per (community, period). A process claims a due run with one atomic statement (an
INSERT that does nothing on conflict, else an UPDATE that takes over an expired lease), so
any number of processes over one database agree on who sends it. A sender killed mid-send
leaves a claimed row whose lease runs out; the next process to wake up takes it over.
The same SQL works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..storage import Store
from ..storage.tables import ReportRun

CLAIMED, SENT, SKIPPED = "claimed", "sent", "skipped"
MAX_ATTEMPTS = 3  # a report the platform keeps refusing is given up after this many tries


def _insert(store: Store) -> sqlite.Insert | postgresql.Insert:
    """INSERT with ON CONFLICT for the store's dialect (the same SQL on both)."""
    if store.engine.dialect.name == "postgresql":
        return postgresql.insert(ReportRun)
    return sqlite.insert(ReportRun)


async def claim(store: Store, community_id: int, period: str, owner: str, now: datetime,
                lease_s: float) -> bool:
    """True if `owner` now holds this run until `now + lease_s` (new, or a lapsed lease)."""
    until = now + timedelta(seconds=lease_s)
    async with store.session() as s:
        got = (await s.execute(
            _insert(store).values(community_id=community_id, period=period, status=CLAIMED,
                                  owner=owner, lease_until=until, attempts=1)
            .on_conflict_do_nothing().returning(ReportRun.period))).scalar_one_or_none()
        if got is None:
            got = (await s.execute(
                update(ReportRun)
                .where(ReportRun.community_id == community_id, ReportRun.period == period,
                       ReportRun.status == CLAIMED, ReportRun.lease_until < now,
                       ReportRun.attempts < MAX_ATTEMPTS)
                .values(owner=owner, lease_until=until, attempts=ReportRun.attempts + 1)
                .returning(ReportRun.period))).scalar_one_or_none()
        await s.commit()
    return got is not None


async def mark_sent(store: Store, community_id: int, period: str, owner: str,
                    now: datetime) -> bool:
    """Record that the platform accepted the report; False if `owner` had lost the lease."""
    async with store.session() as s:
        got = (await s.execute(
            update(ReportRun)
            .where(ReportRun.community_id == community_id, ReportRun.period == period,
                   ReportRun.status == CLAIMED, ReportRun.owner == owner)
            .values(status=SENT, sent_at=now, lease_until=None)
            .returning(ReportRun.period))).scalar_one_or_none()
        await s.commit()
    return got is not None


async def skip(store: Store, community_id: int, period: str) -> None:
    """A period that was due before the report was set up is not owed."""
    async with store.session() as s:
        await s.execute(_insert(store).values(community_id=community_id, period=period,
                                              status=SKIPPED).on_conflict_do_nothing())
        await s.commit()


async def settled(store: Store, periods: dict[int, str], now: datetime) -> set[int]:
    """The communities among `periods` whose run needs nothing now (done, held, given up)."""
    if not periods:
        return set()
    async with store.session() as s:
        rows = (await s.execute(
            select(ReportRun.community_id, ReportRun.period, ReportRun.status,
                   ReportRun.lease_until, ReportRun.attempts)
            .where(ReportRun.community_id.in_(periods),
                   ReportRun.period.in_(set(periods.values()))))).all()
    return {
        cid for cid, period, status, lease, attempts in rows
        if periods.get(cid) == period and (
            status != CLAIMED or attempts >= MAX_ATTEMPTS
            or (lease is not None and lease >= now))
    }
