"""Feedback on replies, which platform messages carry them, regenerated replies, and stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .rollups import mark_stale
from .store import Store
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


class Replies:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_delivery(self, message_id: int, platform: str, platform_message_id: str,
                           part: int = 0) -> None:
        """Record that a platform message carries (part of) a stored message.

        A platform message edited to show another message (a regenerated reply) is re-pointed,
        so later feedback on it goes to the message it now shows.
        """
        async with self.store.session() as s:
            s.add(Delivery(message_id=message_id, platform=platform,
                           platform_message_id=platform_message_id, part=part))
            try:
                await s.commit()
                return
            except IntegrityError:
                await s.rollback()
            await s.execute(
                update(Delivery)
                .where(Delivery.platform == platform,
                       Delivery.platform_message_id == platform_message_id)
                .values(message_id=message_id, part=part))
            await s.commit()

    async def deliveries(self, message_id: int) -> list[str]:
        """Platform message ids carrying a stored message, in part order."""
        async with self.store.session() as s:
            rows = await s.scalars(
                select(Delivery.platform_message_id)
                .where(Delivery.message_id == message_id)
                .order_by(Delivery.part)
            )
            return list(rows)

    async def find(self, platform: str, platform_message_id: str) -> ReplyRef | None:
        """The bot reply a platform message belongs to (None for other messages)."""
        async with self.store.session() as s:
            row = (await s.execute(
                select(Message)
                .join(Delivery, Delivery.message_id == Message.id)
                .where(Delivery.platform == platform,
                       Delivery.platform_message_id == platform_message_id)
            )).scalar_one_or_none()
            if row is None or row.role != "assistant":
                return None
            newest = await s.scalar(
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

    async def mark_replaced(self, old_id: int, new_id: int) -> None:
        async with self.store.session() as s:
            await s.execute(update(Message).where(Message.id == old_id)
                            .values(replaced_by_id=new_id))
            await s.commit()
        self.store.recent.forget()  # the replaced reply leaves its channel's history

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
