"""The database as analytics events, and analytics events into the database (idempotent)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, insert, or_, select
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
    skipped: int  # already there (same ids)
    missing: tuple[Event, ...] = ()  # feedback on a message that is in neither place


LOOKUP = 500  # keys per lookup query (well under every database's parameter limit)
PAGE = 5_000  # rows per table read at a time by `stream`


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
        return [e async for e in self.stream(community, platform, until)]

    async def stream(self, community: str | None = None, platform: str | None = None,
                     until: datetime | None = None) -> AsyncIterator[Event]:
        """`export`'s events one at a time, read a page at a time (bounded memory): messages,
        feedback and setting changes merged by time (at the same time in that order)."""
        where = []
        if community is not None:
            where.append(Community.external_id == community)
        if platform is not None:
            where.append(Community.platform == platform)
        cols = (Channel.external_id, Community.external_id, Community.platform)
        target = aliased(Message)
        queries = (
            (select(Message.id, Message.created_at, Message.external_id, User.external_id,
                    Message.role, Message.model_id, Message.text, *cols)
             .join(Channel, Channel.id == Message.channel_id)
             .outerjoin(User, User.id == Message.user_id), Message, _message),
            (select(Feedback.id, Feedback.created_at, User.external_id, target.external_id,
                    target.id, Feedback.kind, *cols)
             .join(target, target.id == Feedback.message_id)
             .join(Channel, Channel.id == target.channel_id)
             .join(User, User.id == Feedback.user_id), Feedback, _feedback),
            (select(SettingChange.id, SettingChange.created_at, User.external_id,
                    SettingChange.setting, SettingChange.value, *cols)
             .join(Channel, Channel.id == SettingChange.channel_id)
             .outerjoin(User, User.id == SettingChange.user_id), SettingChange, _setting),
        )
        pages = [self._pages(q.join(Community, Community.id == Channel.community_id)
                             .where(*where, *([table.created_at < until] if until else [])),
                             table, make)
                 for q, table, make in queries]
        heads: list[tuple[datetime, int, Event] | None] = [None] * len(pages)
        for i, it in enumerate(pages):
            heads[i] = await _next(it, i)
        while any(heads):
            i = min((h[0], h[1], n) for n, h in enumerate(heads) if h is not None)[2]
            head = heads[i]
            assert head is not None
            yield head[2]
            heads[i] = await _next(pages[i], i)

    async def _pages(self, query: Any, table: Any, make: Any) -> AsyncIterator[Event]:
        """The query's rows in (time, id) order, `PAGE` at a time (keyset pagination)."""
        last: tuple[datetime, int] | None = None
        while True:
            q = query
            if last is not None:
                q = q.where(or_(table.created_at > last[0],
                                and_(table.created_at == last[0], table.id > last[1])))
            async with self.store.session() as s:
                rows = (await s.execute(q.order_by(table.created_at, table.id)
                                        .limit(PAGE))).all()
            for row in rows:
                yield make(*row)
            if len(rows) < PAGE:
                return
            last = (rows[-1][1], rows[-1][0])

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
        self.store.forget()  # their messages leave every cached history
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
            wanted = {(channels[e.platform, e.channel], e.id) for e in events
                      if isinstance(e, MessageEvent)}
            wanted |= {(channels[e.platform, e.channel], e.message) for e in events
                       if isinstance(e, FeedbackEvent)}
            known, model_of = await _messages(s, wanted)

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
                added_ids, added_models = await _messages(
                    s, {k for k, mid in known.items() if mid == -1})
                known.update(added_ids)
                model_of.update(added_models)

            targets = sorted({known[k] for k in wanted if known.get(k, -1) > 0})
            feedback: set[tuple[Any, ...]] = set()
            for i in range(0, len(targets), LOOKUP):
                feedback |= {tuple(r) for r in await s.execute(
                    select(Feedback.message_id, Feedback.user_id, Feedback.kind)
                    .where(Feedback.message_id.in_(targets[i:i + LOOKUP])))}
            changed = sorted({channels[e.platform, e.channel] for e in events
                              if isinstance(e, SettingEvent)})
            settings: set[tuple[Any, ...]] = set()
            for i in range(0, len(changed), LOOKUP):
                settings |= {(c, k, v, _utc(t)) for c, k, v, t in await s.execute(
                    select(SettingChange.channel_id, SettingChange.setting,
                           SettingChange.value, SettingChange.created_at)
                    .where(SettingChange.channel_id.in_(changed[i:i + LOOKUP])))}
            new_feedback, new_settings, missing = [], [], []
            for e in events:
                cid, uid = channels[e.platform, e.channel], users[e.platform, e.user]
                if isinstance(e, FeedbackEvent):
                    target = known.get((cid, e.message))
                    if target is None:
                        missing.append(e)
                        continue
                    if (target, uid, e.kind) in feedback:
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
        return ImportResult(added, len(events) - added - len(missing), tuple(missing))


async def _messages(s: AsyncSession, keys: set[tuple[int, str]]
                    ) -> tuple[dict[tuple[int, str], int], dict[int, str | None]]:
    """The stored messages among (channel id, event id) keys: their ids and models.

    An event id is a message's external id, or for a message made here (none) its own id,
    as `export` writes it. Only the keys asked for are read: an import batch costs the
    same however much history is already stored.
    """
    found: dict[tuple[int, str], int] = {}
    model_of: dict[int, str | None] = {}
    cols = (Message.id, Message.channel_id, Message.external_id, Message.model_id)
    externals = sorted({ext for _, ext in keys})
    own = sorted({int(ext) for ext in externals if ext.isdigit() and len(ext) < 19})
    for column, values in ((Message.external_id, externals), (Message.id, own)):
        for i in range(0, len(values), LOOKUP):
            where = [column.in_(values[i:i + LOOKUP])]
            if column is Message.id:
                where.append(Message.external_id.is_(None))
            for mid, cid, ext, model in await s.execute(select(*cols).where(*where)):
                key = (cid, ext or str(mid))
                if key in keys:
                    found[key] = mid
                    model_of[mid] = model
    return found, model_of


async def _next(it: AsyncIterator[Event], source: int) -> tuple[datetime, int, Event] | None:
    event = await anext(it, None)
    return None if event is None else (event.ts, source, event)


def _message(mid: int, ts: datetime, ext: str | None, user: str | None, role: str,
             model: str | None, text: str, channel: str, comm: str, plat: str) -> Event:
    return MessageEvent(id=ext or str(mid), ts=ts, platform=cast(Platform, plat),
                        community=comm, channel=channel, user=user or "bot",
                        role=_ROLE_OUT.get(role, "bot"), model=model, text=text)


def _feedback(_: int, ts: datetime, user: str, ext: str | None, mid: int, kind: str, channel: str,
              comm: str, plat: str) -> Event:
    return FeedbackEvent(ts=ts, platform=cast(Platform, plat), community=comm,
                         channel=channel, user=user, message=ext or str(mid),
                         kind=cast(FeedbackKind, kind))


def _setting(_: int, ts: datetime, user: str | None, setting: str, value: str | None, channel: str,
             comm: str, plat: str) -> Event:
    return SettingEvent(ts=ts, platform=cast(Platform, plat), community=comm,
                        channel=channel, user=user or "admin",
                        setting=cast(SettingName, setting), value=value)


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
