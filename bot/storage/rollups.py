"""Keep the analytics rollup tables equal to a recomputation from the stored messages.

The rollups (`rollup_user_days`, `rollup_reply_days`, `rollup_channel_days`) are derived
data: `catch_up` finds what changed since it last ran — rows newer than the ids remembered
in `rollup_state`, and users or channels a deletion marked in `rollup_dirty` — and rebuilds
those users' and channels' rows from `messages`, `feedback` and `setting_changes`, a chunk
at a time. A new timezone for the community rebuilds all of them. Running it twice changes
nothing; so an import, a live message or a `forget` only has to be followed by a catch-up.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.analytics.daily import ChannelRow, channel_days, user_days
from bot.analytics.options import AnalysisOptions

from .store import Store
from .tables import (
    Channel,
    Community,
    Feedback,
    Message,
    RollupChannelDay,
    RollupDirty,
    RollupReplyDay,
    RollupState,
    RollupUserDay,
    SettingChange,
)

CHUNK = 500  # users or channels rebuilt per statement
ModeTimes = dict[int, tuple[list[datetime], list[str | None]]]  # channel → change times, modes


@dataclass(frozen=True, slots=True)
class Stale:
    """The users and channels of one community whose rollups must be rebuilt."""

    users: set[int]
    channels: set[int]
    everything: bool = False


def community_zone(name: str | None) -> ZoneInfo:
    """The community's report timezone; UTC when unset or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


class Rollups:
    def __init__(self, store: Store, options: AnalysisOptions | None = None) -> None:
        self.store = store
        self.opts = options or AnalysisOptions()

    async def catch_up(self, community_ids: Iterable[int] | None = None) -> None:
        """Bring the rollups of these communities (default: all) up to date."""
        async with self.store.session() as s:
            if community_ids is None:
                community_ids = list(await s.scalars(select(Community.id)))
            for cid in sorted(set(community_ids)):
                await self._catch_up(s, cid)
                await s.commit()

    async def rebuild(self, community_id: int) -> None:
        """Recompute every rollup of one community from scratch."""
        async with self.store.session() as s:
            await s.execute(delete(RollupState).where(RollupState.community_id == community_id))
            await self._catch_up(s, community_id)
            await s.commit()

    async def _catch_up(self, s: AsyncSession, cid: int) -> None:
        tz_name = await s.scalar(select(Community.report_timezone).where(Community.id == cid))
        state = await s.get(RollupState, cid)
        tops = [await s.scalar(select(func.max(t.id))) or 0
                for t in (Message, Feedback, SettingChange)]
        fresh = state is None or state.timezone != (tz_name or "UTC")
        if fresh:
            stale = Stale(set(), set(), everything=True)
            for table in (RollupUserDay, RollupReplyDay, RollupChannelDay):
                await s.execute(delete(table).where(table.community_id == cid))
        else:
            assert state is not None
            stale = await _stale(s, cid, state, tops)
        await s.execute(delete(RollupDirty).where(RollupDirty.community_id == cid))
        if stale.everything or stale.users or stale.channels:
            tz = community_zone(tz_name)
            modes = await _mode_times(s, cid)
            await self._users(s, cid, tz, modes, stale)
            await self._channels(s, cid, tz, modes, stale)
        if state is None:
            state = RollupState(community_id=cid)
            s.add(state)
        state.timezone = tz_name or "UTC"
        state.message_id, state.feedback_id, state.setting_id = tops

    def _mode(self, modes: ModeTimes, channel: int, ts: datetime) -> str:
        times, values = modes.get(channel, ([], []))
        i = bisect_right(times, ts)
        return (values[i - 1] if i else None) or self.opts.default_mode

    async def _users(self, s: AsyncSession, cid: int, tz: ZoneInfo, modes: ModeTimes,
                     stale: Stale) -> None:
        query = (select(Message.user_id, Message.channel_id, Message.created_at)
                 .join(Channel, Channel.id == Message.channel_id)
                 .where(Channel.community_id == cid, Message.role == "user",
                        Message.user_id.is_not(None)))
        users = stale.users
        if stale.everything:
            users = set(await s.scalars(query.with_only_columns(Message.user_id).distinct()))
        for chunk in _chunks(users):
            q = query.where(Message.user_id.in_(chunk))
            await s.execute(delete(RollupUserDay).where(
                RollupUserDay.community_id == cid, RollupUserDay.user_id.in_(chunk)))
            rows: list[dict[str, Any]] = []
            result = await (await s.connection()).execute(  # buffered: one chunk's rows
                q.order_by(Message.user_id, Message.created_at, Message.id))
            for uid, group in groupby(result, key=lambda row: row[0]):
                days = user_days(((ts, self._mode(modes, ch, ts)) for _, ch, ts in group), tz,
                                 gap=self.opts.gap, allowance=self.opts.allowance)
                rows += [{"community_id": cid, "user_id": uid, "scope": scope, "day": day,
                          "messages": d.messages, "sessions": d.sessions,
                          "minutes": d.minutes} for (scope, day), d in days.items()]
            if rows:
                conn = await s.connection()  # Core: no ORM bookkeeping per row
                await conn.execute(insert(cast(Table, RollupUserDay.__table__)), rows)

    async def _channels(self, s: AsyncSession, cid: int, tz: ZoneInfo, modes: ModeTimes,
                        stale: Stale) -> None:
        query = (select(Message.channel_id, Message.id, Message.created_at, Message.role,
                        Message.user_id, Message.model_id)
                 .join(Channel, Channel.id == Message.channel_id)
                 .where(Channel.community_id == cid))
        channels = stale.channels
        if stale.everything:
            channels = set(await s.scalars(select(Channel.id).where(Channel.community_id == cid)))
        for chunk in _chunks(channels):
            q = query.where(Message.channel_id.in_(chunk))
            for table in (RollupReplyDay, RollupChannelDay):
                await s.execute(delete(table).where(
                    table.community_id == cid, table.channel_id.in_(chunk)))
            kinds = await _feedback_kinds(s, chunk)
            replies: list[dict[str, Any]] = []
            messages: list[dict[str, Any]] = []
            result = await (await s.connection()).execute(
                q.order_by(Message.channel_id, Message.created_at, Message.id))
            for ch, group in groupby(result, key=lambda row: row[0]):
                days = channel_days(
                    (ChannelRow(ts, role == "user", uid, model, self._mode(modes, ch, ts),
                                kinds.get(mid, frozenset()))
                     for _, mid, ts, role, uid, model in group),
                    tz, window=self.opts.window)
                where = {"community_id": cid, "channel_id": ch}
                replies += [{**where, "mode": mode, "model": model, "day": day,
                             "replies": r.replies, "judged": r.judged, "continued": r.continued,
                             "late_judged": r.late_judged, "late_continued": r.late_continued,
                             "thumbs_up": r.thumbs_up, "thumbs_down": r.thumbs_down,
                             "regenerated": r.regenerated}
                            for (mode, model, day), r in days.replies.items()]
                messages += [{**where, "mode": mode, "day": day, "messages": n}
                             for (mode, day), n in days.messages.items()]
            await _flush(s, replies, messages)


async def _flush(s: AsyncSession, replies: list[dict[str, Any]],
                 messages: list[dict[str, Any]]) -> None:
    conn = await s.connection()  # Core inserts: no ORM bookkeeping per row
    if replies:
        await conn.execute(insert(cast(Table, RollupReplyDay.__table__)), replies)
    if messages:
        await conn.execute(insert(cast(Table, RollupChannelDay.__table__)), messages)


def _chunks(ids: set[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i:i + CHUNK]


async def _mode_times(s: AsyncSession, cid: int) -> ModeTimes:
    out: ModeTimes = {}
    rows = await s.execute(
        select(SettingChange.channel_id, SettingChange.created_at, SettingChange.value)
        .join(Channel, Channel.id == SettingChange.channel_id)
        .where(Channel.community_id == cid, SettingChange.setting == "mode")
        .order_by(SettingChange.channel_id, SettingChange.created_at, SettingChange.id))
    for ch, group in groupby(rows, key=lambda r: r[0]):
        changes = list(group)
        out[ch] = ([t for _, t, _ in changes], [v for _, _, v in changes])
    return out


async def _feedback_kinds(s: AsyncSession, chunk: list[int]) -> dict[int, frozenset[str]]:
    q = (select(Feedback.message_id, Feedback.kind)
         .join(Message, Message.id == Feedback.message_id)
         .where(Message.channel_id.in_(chunk)))
    found: dict[int, set[str]] = {}
    for mid, kind in await s.execute(q):
        found.setdefault(mid, set()).add(kind)
    return {mid: frozenset(k) for mid, k in found.items()}


async def _stale(s: AsyncSession, cid: int, state: RollupState, tops: list[int]) -> Stale:
    in_community = select(Channel.id).where(Channel.community_id == cid)
    users: set[int] = set()
    channels: set[int] = set()
    for ch, uid, role in await s.execute(
            select(Message.channel_id, Message.user_id, Message.role).distinct()
            .where(Message.channel_id.in_(in_community),
                   Message.id > state.message_id, Message.id <= tops[0])):
        channels.add(ch)
        if role == "user" and uid is not None:
            users.add(uid)
    channels |= set(await s.scalars(
        select(Message.channel_id).distinct().join(Feedback, Feedback.message_id == Message.id)
        .where(Message.channel_id.in_(in_community),
               Feedback.id > state.feedback_id, Feedback.id <= tops[1])))
    moved = set(await s.scalars(
        select(SettingChange.channel_id).distinct()
        .where(SettingChange.channel_id.in_(in_community), SettingChange.setting == "mode",
               SettingChange.id > state.setting_id, SettingChange.id <= tops[2])))
    for dirty_ch, uid in await s.execute(select(RollupDirty.channel_id, RollupDirty.user_id)
                                         .where(RollupDirty.community_id == cid)):
        if dirty_ch is not None:
            (moved if uid is None else channels).add(dirty_ch)
        if uid is not None:
            users.add(uid)
    if moved:  # a mode change re-labels every message of the channel
        channels |= moved
        users |= set(await s.scalars(
            select(Message.user_id).distinct().where(
                Message.channel_id.in_(moved), Message.role == "user",
                Message.user_id.is_not(None))))
    return Stale(users, channels)


async def mark_stale(s: AsyncSession, community_id: int, *, channel_id: int | None = None,
                     user_id: int | None = None) -> None:
    """Note in the session's transaction that a deletion made these rollups stale."""
    s.add(RollupDirty(community_id=community_id, channel_id=channel_id, user_id=user_id))
