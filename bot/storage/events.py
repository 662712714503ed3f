"""The database as analytics events, and analytics events into the database (idempotent)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.analytics import Event, FeedbackEvent, MessageEvent, SettingEvent
from bot.analytics.events import FeedbackKind, Platform, Role, SettingName

from .learned import LearnedArms
from .rollups import Rollups, mark_stale
from .store import Store
from .tables import Base, Channel, Community, Feedback, Message, SettingChange, User, utcnow

_ROLE_OUT: dict[str, Role] = {"user": "user", "assistant": "bot"}
_ROLE_IN: dict[Role, str] = {"user": "user", "bot": "assistant"}


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    skipped: int  # already there (same ids) or pointing at nothing


class Events:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record_setting(self, channel_id: int, setting: str, value: str | None,
                             user_id: int | None = None) -> None:
        async with self.store.session() as s:
            s.add(SettingChange(channel_id=channel_id, setting=setting, value=value,
                                user_id=user_id))
            await s.commit()

    async def communities(self) -> list[tuple[str, str, str]]:
        """(platform, external id, name) of every community."""
        async with self.store.session() as s:
            rows = await s.execute(select(Community.platform, Community.external_id,
                                          Community.name).order_by(Community.id))
            return [(platform, ext, name) for platform, ext, name in rows]

    async def export(self, community: str | None = None, platform: str | None = None,
                     until: datetime | None = None) -> list[Event]:
        """Every message, feedback and setting change (of one community), oldest first."""
        where = []
        if community is not None:
            where.append(Community.external_id == community)
        if platform is not None:
            where.append(Community.platform == platform)
        events: list[Event] = []
        async with self.store.session() as s:
            cols = (Channel.external_id, Community.external_id, Community.platform)
            msgs = await s.execute(
                select(Message, User.external_id, *cols)
                .join(Channel, Channel.id == Message.channel_id)
                .join(Community, Community.id == Channel.community_id)
                .outerjoin(User, User.id == Message.user_id)
                .where(*where, *([Message.created_at < until] if until else []))
                .order_by(Message.created_at, Message.id))
            for m, user, channel, comm, plat in msgs:
                events.append(MessageEvent(
                    id=m.external_id or str(m.id), ts=m.created_at, platform=cast(Platform, plat),
                    community=comm, channel=channel, user=user or "bot",
                    role=_ROLE_OUT.get(m.role, "bot"), model=m.model_id, text=m.text))
            target = aliased(Message)
            fbs = await s.execute(
                select(Feedback, User.external_id, target.external_id, target.id,
                       *cols)
                .join(target, target.id == Feedback.message_id)
                .join(Channel, Channel.id == target.channel_id)
                .join(Community, Community.id == Channel.community_id)
                .join(User, User.id == Feedback.user_id)
                .where(*where))
            for f, user, ext, mid, channel, comm, plat in fbs:
                events.append(FeedbackEvent(
                    ts=f.created_at, platform=cast(Platform, plat), community=comm,
                    channel=channel, user=user, message=ext or str(mid),
                    kind=cast(FeedbackKind, f.kind)))
            changes = await s.execute(
                select(SettingChange, User.external_id, *cols)
                .join(Channel, Channel.id == SettingChange.channel_id)
                .join(Community, Community.id == Channel.community_id)
                .outerjoin(User, User.id == SettingChange.user_id)
                .where(*where))
            for c, user, channel, comm, plat in changes:
                events.append(SettingEvent(
                    ts=c.created_at, platform=cast(Platform, plat), community=comm,
                    channel=channel, user=user or "admin", setting=cast(SettingName, c.setting),
                    value=c.value))
        events.sort(key=lambda e: e.ts)
        return [e for e in events if until is None or e.ts < until]

    async def forget(self, platform: str, user: str) -> int:
        """Delete a user's messages and feedback everywhere; returns the messages deleted.

        The rollups of the user and of the channels they wrote in are rebuilt.
        """
        async with self.store.session() as s:
            uid = await s.scalar(select(User.id).where(User.platform == platform,
                                                       User.external_id == user))
            if uid is None:
                return 0
            touched: set[tuple[int, int]] = {(c, ch) for c, ch in await s.execute(
                select(Channel.community_id, Message.channel_id).distinct()
                .join(Channel, Channel.id == Message.channel_id)
                .where(Message.user_id == uid, Message.role == "user"))}
            touched |= {(c, ch) for c, ch in await s.execute(
                select(Channel.community_id, Message.channel_id).distinct()
                .join(Message, Message.channel_id == Channel.id)
                .join(Feedback, Feedback.message_id == Message.id)
                .where(Feedback.user_id == uid))}
            for community_id, channel_id in touched:
                await mark_stale(s, community_id, channel_id=channel_id, user_id=uid)
            await s.execute(delete(Feedback).where(Feedback.user_id == uid))
            mine = select(Message.id).where(Message.user_id == uid, Message.role == "user")
            await s.execute(delete(Feedback).where(Feedback.message_id.in_(mine)))
            gone = await s.execute(delete(Message).where(Message.user_id == uid,
                                                         Message.role == "user"))
            await s.commit()
        await Rollups(self.store).catch_up({c for c, _ in touched})
        await LearnedArms(self.store).forget({c for c, _ in touched})  # rebuilt when next used
        return int(getattr(gone, "rowcount", 0) or 0)

    async def import_events(self, events: Iterable[Event], *,
                            catch_up: bool = True) -> ImportResult:
        """Add events in one transaction; ones already present are skipped.

        Messages are the same when their channel and id match, feedback when its message,
        user and kind match, setting changes when all their fields match.
        """
        events = list(events)
        async with self.store.session() as s:
            communities = await _ensure(s, Community, {
                (e.platform, e.community): {"name": e.community} for e in events})
            channels = await _ensure(s, Channel, {
                (e.platform, e.channel): {"name": e.channel,
                                          "community_id": communities[e.platform, e.community]}
                for e in events})
            users = await _ensure(s, User, {(e.platform, e.user): {"display_name": ""}
                                            for e in events})
            ids = list(set(channels.values()))
            known: dict[tuple[int, str], int] = {}
            model_of: dict[int, str | None] = {}
            for mid, cid, ext, model in await s.execute(
                    select(Message.id, Message.channel_id, Message.external_id, Message.model_id)
                    .where(Message.channel_id.in_(ids))):
                known[cid, ext or str(mid)] = mid
                model_of[mid] = model

            new_messages = []
            for e in events:
                if isinstance(e, MessageEvent) and (channels[e.platform, e.channel], e.id) \
                        not in known:
                    role = _ROLE_IN[e.role]
                    cid = channels[e.platform, e.channel]
                    known[cid, e.id] = -1  # a duplicate inside the file counts once
                    new_messages.append({
                        "channel_id": cid, "role": role, "text": e.text, "created_at": e.ts,
                        "external_id": e.id, "model_id": e.model if role == "assistant" else None,
                        "user_id": users[e.platform, e.user]})
            if new_messages:  # plain executemany; ids are read back (RETURNING is slow here)
                conn = await s.connection()
                await conn.execute(insert(_table(Message)), new_messages)
                for mid, cid, ext, model in await s.execute(
                        select(Message.id, Message.channel_id, Message.external_id,
                               Message.model_id)
                        .where(Message.channel_id.in_(ids), Message.external_id.is_not(None))):
                    assert ext is not None  # the query skips messages without one
                    known[cid, ext] = mid
                    model_of[mid] = model

            feedback = {tuple(r) for r in await s.execute(
                select(Feedback.message_id, Feedback.user_id, Feedback.kind)
                .join(Message, Message.id == Feedback.message_id)
                .where(Message.channel_id.in_(ids)))}
            settings = {(c, k, v, _utc(t)) for c, k, v, t in await s.execute(
                select(SettingChange.channel_id, SettingChange.setting, SettingChange.value,
                       SettingChange.created_at).where(SettingChange.channel_id.in_(ids)))}
            new_feedback, new_settings = [], []
            for e in events:
                cid, uid = channels[e.platform, e.channel], users[e.platform, e.user]
                if isinstance(e, FeedbackEvent):
                    target = known.get((cid, e.message))
                    if target is None or (target, uid, e.kind) in feedback:
                        continue
                    feedback.add((target, uid, e.kind))
                    new_feedback.append({"message_id": target, "user_id": uid, "kind": e.kind,
                                         "created_at": e.ts, "model_id": model_of.get(target)})
                elif isinstance(e, SettingEvent):
                    key = (cid, e.setting, e.value, e.ts)
                    if key in settings:
                        continue
                    settings.add(key)
                    new_settings.append({"channel_id": cid, "user_id": uid,
                                         "setting": e.setting, "value": e.value,
                                         "created_at": e.ts})
            for table, rows in ((Feedback, new_feedback), (SettingChange, new_settings)):
                if rows:
                    await (await s.connection()).execute(insert(_table(table)), rows)
            await s.commit()
        if new_messages or new_feedback:  # the `learned` evidence is rebuilt when next used
            await LearnedArms(self.store).forget(set(communities.values()))
        if catch_up:  # else the caller runs `Rollups.catch_up` once after its batches
            await Rollups(self.store).catch_up(set(communities.values()))
        added = len(new_messages) + len(new_feedback) + len(new_settings)
        return ImportResult(added, len(events) - added)


def _table(model: type[Base]) -> Table:
    """The table a model is mapped to (each model here declares its own `__tablename__`)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


async def _ensure(s: AsyncSession, table: type[Community] | type[Channel] | type[User],
                  wanted: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Ids of rows keyed by (platform, external_id), inserting the missing ones in bulk."""
    found: dict[tuple[str, str], int] = {}
    external = sorted({ext for _, ext in wanted})
    for chunk in range(0, len(external), 500):
        rows = await s.execute(select(table.id, table.platform, table.external_id).where(
            table.external_id.in_(external[chunk:chunk + 500])))
        for ident, platform, ext in rows:
            found[platform, ext] = ident
    missing = [{"platform": p, "external_id": x, "created_at": utcnow(), **extra}
               for (p, x), extra in wanted.items() if (p, x) not in found]
    if missing:
        await (await s.connection()).execute(insert(_table(table)), missing)
        return await _ensure(s, table, wanted)  # now all present: read their ids
    return found
