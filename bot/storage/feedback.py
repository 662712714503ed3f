"""Feedback on replies, which platform messages carry them, regenerated replies, and stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .rollups import mark_stale
from .store import AlsoWrite, Store, table
from .tables import Channel, Delivery, Feedback, Message

FeedbackKind = Literal["up", "down", "regenerate"]


@dataclass(frozen=True, slots=True)
class ReplyRef:
    """A stored bot reply found from a platform message."""

    message_id: int
    channel_id: int
    model_id: str | None
    latest: bool  # the newest message of its channel's conversation


@dataclass(frozen=True, slots=True)
class Stats:
    messages: int
    user_messages: int
    replies: int
    users: int
    model_share: dict[str, float] = field(default_factory=dict)


def delivery(platform: str, platform_message_id: str, part: int = 0) -> AlsoWrite:
    """The write that records a platform message as carrying part `part` of a message (one
    statement where the database can upsert), for `Store.add_message(also=...)`."""
    async def write(conn: AsyncConnection, message_id: int) -> None:
        values = {"message_id": message_id, "platform": platform,
                  "platform_message_id": platform_message_id, "part": part}
        upsert = _UPSERT_DELIVERY.get(conn.dialect.name)
        if upsert is not None:
            await conn.execute(upsert, values)
            return
        try:
            async with conn.begin_nested():
                await conn.execute(insert(_DELIVERIES), values)
            return
        except IntegrityError:
            pass
        await conn.execute(_REPOINT_DELIVERY, values)
    return write


def replacing(old_id: int) -> AlsoWrite:
    """The write that marks reply `old_id` as replaced by the new message (regenerated)."""
    async def write(conn: AsyncConnection, new_id: int) -> None:
        await conn.execute(_MARK_REPLACED, {"old_id": old_id, "new_id": new_id})
    return write


def _upsert(dialect: Any) -> Any:
    statement = dialect.insert(_DELIVERIES)
    return statement.on_conflict_do_update(
        index_elements=["platform", "platform_message_id"],
        set_={"message_id": statement.excluded.message_id, "part": statement.excluded.part})


# Built once: a turn's writes only bind values (statement building costs more than the write)
_DELIVERIES = table(Delivery)
_UPSERT_DELIVERY = {"sqlite": _upsert(sqlite), "postgresql": _upsert(postgresql)}
_REPOINT_DELIVERY = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.platform == bindparam("platform"),
           _DELIVERIES.c.platform_message_id == bindparam("platform_message_id"))
    .values(message_id=bindparam("message_id"), part=bindparam("part")))
_MARK_REPLACED = (update(table(Message)).where(table(Message).c.id == bindparam("old_id"))
                  .values(replaced_by_id=bindparam("new_id")))


class Replies:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_delivery(self, message_id: int, platform: str, platform_message_id: str,
                           part: int = 0) -> None:
        """Record that a platform message carries (part of) a stored message.

        A platform message edited to show another message (a regenerated reply) is re-pointed,
        so later feedback on it goes to the message it now shows.
        """
        async with self.store.engine.begin() as conn:
            await delivery(platform, platform_message_id, part)(conn, message_id)

    async def deliveries(self, message_id: int) -> list[str]:
        """Platform message ids carrying a stored message, in part order."""
        async with self.store.autocommit() as conn:
            rows = await conn.scalars(
                select(Delivery.platform_message_id)
                .where(Delivery.message_id == message_id)
                .order_by(Delivery.part)
            )
            return list(rows)

    async def find(self, platform: str, platform_message_id: str) -> ReplyRef | None:
        """The bot reply a platform message belongs to (None for other messages)."""
        async with self.store.autocommit() as conn:
            row = (await conn.execute(
                select(Message.id, Message.channel_id, Message.model_id, Message.role,
                       Message.replaced_by_id)
                .join(Delivery, Delivery.message_id == Message.id)
                .where(Delivery.platform == platform,
                       Delivery.platform_message_id == platform_message_id)
            )).one_or_none()
            if row is None or row.role != "assistant":
                return None
            newest = await conn.scalar(
                select(func.max(Message.id)).where(
                    Message.channel_id == row.channel_id, Message.replaced_by_id.is_(None)
                )
            )
            return ReplyRef(row.id, row.channel_id, row.model_id,
                            newest == row.id and row.replaced_by_id is None)

    async def add_feedback(self, message_id: int, user_id: int, kind: FeedbackKind) -> bool:
        """Record feedback once per user and kind; False if it was already there."""
        async with self.store.session() as s:
            model_id = await s.scalar(select(Message.model_id).where(Message.id == message_id))
            s.add(Feedback(message_id=message_id, user_id=user_id, kind=kind,
                           model_id=model_id))
            try:
                await s.commit()
                return True
            except IntegrityError:
                await s.rollback()
                return False

    async def remove_feedback(self, message_id: int, user_id: int, kind: FeedbackKind) -> None:
        """Take feedback back; the reply's rollups are marked stale in the same transaction
        (a deletion leaves no new row for the next catch-up to find)."""
        async with self.store.session() as s:
            gone = await s.execute(delete(Feedback).where(
                Feedback.message_id == message_id, Feedback.user_id == user_id,
                Feedback.kind == kind))
            if getattr(gone, "rowcount", 0):
                where = (await s.execute(
                    select(Channel.community_id, Message.channel_id)
                    .join(Channel, Channel.id == Message.channel_id)
                    .where(Message.id == message_id))).first()
                if where is not None:
                    await mark_stale(s, where[0], channel_id=where[1], user_id=user_id)
            await s.commit()

    async def feedback(self, message_id: int) -> list[tuple[int, str, str | None]]:
        """(user id, kind, model id) rows for one reply."""
        async with self.store.session() as s:
            rows = await s.execute(
                select(Feedback.user_id, Feedback.kind, Feedback.model_id)
                .where(Feedback.message_id == message_id).order_by(Feedback.id))
            return [(user, kind, model) for user, kind, model in rows]

    async def stats(self, *, channel_id: int | None = None,
                    community_id: int | None = None) -> Stats:
        """Message, user and per-model counts for a channel or a whole community."""
        scope = select(Message).join(Channel, Channel.id == Message.channel_id)
        if channel_id is not None:
            scope = scope.where(Message.channel_id == channel_id)
        if community_id is not None:
            scope = scope.where(Channel.community_id == community_id)
        sub = scope.subquery()
        async with self.store.session() as s:
            roles: dict[str, int] = dict((await s.execute(
                select(sub.c.role, func.count()).group_by(sub.c.role))).all())
            users = await s.scalar(select(func.count(func.distinct(sub.c.user_id)))
                                   .where(sub.c.role == "user")) or 0
            per_model: dict[str, int] = dict((await s.execute(
                select(sub.c.model_id, func.count())
                .where(sub.c.role == "assistant", sub.c.model_id.is_not(None))
                .group_by(sub.c.model_id))).all())
        replies = sum(per_model.values())
        share = {m: n / replies for m, n in sorted(per_model.items())} if replies else {}
        return Stats(sum(roles.values()), roles.get("user", 0), roles.get("assistant", 0),
                     users, share)
