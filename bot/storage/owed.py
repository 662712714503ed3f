"""Owed replies: a user's message the bot has yet to answer, held by the turn answering it.

The message is stored with `owed_until` (a lease) in the same insert that records it. The
process answering it renews the lease while it works and settles it once the reply shows:
the reply's own transaction notes the reply on the message (`owed_reply`) and settles the
channel's earlier messages whose turn died (nobody holds them; the reply answers from the
whole history, theirs included). A turn that ends another way settles its own. A message held
by a live turn is never settled by another turn's reply: two messages in flight at once each
get their own. A process killed mid-turn leaves a lease that lapses (and, if its preview was
showing, that preview's platform id in `owed_preview`): the message is then claimed (one
conditional UPDATE, so only one process wins) and answered by whichever process sees it next
(a platform's redelivery, or a sweep of lapsed recent ones, oldest first in each channel)
with the reply the dead turn stored, if it got that far, else a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .store import AlsoWrite, Store
from .tables import Channel, Community, Delivery, Message, utcnow


@dataclass(frozen=True, slots=True)
class OwedMessage:
    community_id: str  # the platform's ids
    channel_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message taken over from a turn that died."""
    message_id: int
    preview: str | None  # the platform message showing the dead turn's preview
    reply_id: int | None  # the reply it had stored and not shown (shown now, not written)


@dataclass(frozen=True, slots=True)
class StoredReply:
    id: int
    text: str
    model_id: str | None
    shown_in: tuple[str, ...]  # the platform messages recorded as carrying it


@dataclass(frozen=True, slots=True)
class ReadBack:
    """Where a process that was away reads a channel back from (the platform's ids)."""
    community_id: str
    channel_id: str
    message_id: str
    including: bool  # the message itself too (it is owed), or only the ones after it


class OwedReplies:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def lease(seconds: float, now: datetime | None = None) -> datetime:
        return (now or utcnow()) + timedelta(seconds=seconds)

    async def renew(self, message_ids: Sequence[int], seconds: float) -> None:
        """Extend the leases of this process's turns in flight (one statement)."""
        if not message_ids:
            return
        async with self.store.writing(), self.store.autocommit() as conn:
            await conn.execute(update(Message)
                               .where(Message.id.in_(list(message_ids)),
                                      Message.owed_until.is_not(None))
                               .values(owed_until=self.lease(seconds)))

    async def settle(self, message_ids: Sequence[int]) -> None:
        """These messages are answered: their reply shows, or their turn ended another way
        (a notice, an apology)."""
        async with self.store.writing(), self.store.autocommit() as conn:
            await conn.execute(update(Message).where(Message.id.in_(list(message_ids)))
                               .values(owed_until=None))

    async def settle_by_id(self, channel: str, platform: str, message_id: str) -> None:
        """A lapsed message that cannot be answered any more (deleted on the platform)."""
        async with self.store.writing(), self.store.autocommit() as conn:
            await conn.execute(
                update(Message)
                .where(Message.platform_message_id == message_id,
                       Message.channel_id.in_(select(Channel.id).where(
                           Channel.platform == platform, Channel.external_id == channel)))
                .values(owed_until=None))

    async def shown(self, message_id: int, preview: str) -> None:
        """The turn answering `message_id` shows its preview in platform message `preview`."""
        async with self.store.writing(), self.store.autocommit() as conn:
            await conn.execute(update(Message).where(Message.id == message_id)
                               .values(owed_preview=preview))

    async def found_preview(self, platform: str, channel: str, platform_message_id: str,
                            preview: str) -> bool:
        """A dead turn's preview found on the platform (the turn died before noting it):
        noted for the message, if that is still owed and has none noted."""
        channel_id = (select(Channel.id)
                      .where(Channel.platform == platform, Channel.external_id == channel)
                      .scalar_subquery())
        async with self.store.writing(), self.store.autocommit() as conn:
            done = await conn.execute(
                update(Message)
                .where(Message.channel_id == channel_id,
                       Message.platform_message_id == platform_message_id,
                       Message.owed_until.is_not(None), Message.owed_preview.is_(None))
                .values(owed_preview=preview))
        return bool(getattr(done, "rowcount", 0))

    @staticmethod
    def noted_with_reply(channel_id: int, message_id: int) -> AlsoWrite:
        """For the reply's transaction: `message_id` keeps its lease until the reply shows,
        noting the reply (a turn that takes it over shows that one); the channel's earlier
        messages whose turn died are settled (nobody holds them; the reply saw them)."""

        async def write(conn: AsyncConnection, reply_id: int) -> None:
            own = Message.id == message_id
            await conn.execute(update(Message)
                               .where(or_(own, and_(Message.channel_id == channel_id,
                                                    Message.id < message_id,
                                                    Message.owed_until < utcnow())))
                               .values(owed_reply=case((own, reply_id),
                                                       else_=Message.owed_reply),
                                       owed_until=case((own, Message.owed_until),
                                                       else_=None)))
        return write

    async def held(self, channel_id: int, platform_message_id: str) -> int | None:
        """The stored message's id if it is owed under a live lease (a turn is answering it,
        or its reply shows and is about to be settled)."""
        async with self.store.autocommit() as conn:
            row = (await conn.execute(
                select(Message.id, Message.owed_until)
                .where(Message.channel_id == channel_id,
                       Message.platform_message_id == platform_message_id))).one_or_none()
        return int(row[0]) if row is not None and row[1] is not None and row[1] >= utcnow() \
            else None

    async def stored_reply(self, reply_id: int) -> StoredReply | None:
        """A reply a dead turn stored (None: it is gone)."""
        async with self.store.autocommit() as conn:
            row = (await conn.execute(select(Message.text, Message.model_id)
                                      .where(Message.id == reply_id))).one_or_none()
            shown = (await conn.execute(select(Delivery.platform_message_id)
                                        .where(Delivery.message_id == reply_id)
                                        .order_by(Delivery.part))).scalars().all()
        return StoredReply(reply_id, row[0], row[1], tuple(shown)) if row is not None else None

    async def claim(self, channel_id: int, platform_message_id: str,
                    seconds: float) -> Claimed | None:
        """Take over a stored message whose turn died (its lease lapsed); None if it is
        answered or held by a live turn."""
        now = utcnow()
        async with self.store.writing(), self.store.autocommit() as conn:
            got = (await conn.execute(
                update(Message)
                .where(Message.channel_id == channel_id,
                       Message.platform_message_id == platform_message_id,
                       Message.role == "user", Message.owed_until < now)
                .values(owed_until=self.lease(seconds, now))
                .returning(Message.id, Message.owed_preview, Message.owed_reply))
                   ).one_or_none()
        return Claimed(int(got[0]), got[1], got[2]) if got is not None else None

    async def lapsed(self, platform: str, within_s: float, limit: int = 100
                     ) -> list[OwedMessage]:
        """Recent (`within_s`) messages of `platform` whose turn died, oldest first."""
        now = utcnow()
        async with self.store.autocommit() as conn:
            rows = (await conn.execute(
                select(Community.external_id, Channel.external_id,
                       Message.platform_message_id)
                .join(Channel, Channel.id == Message.channel_id)
                .join(Community, Community.id == Channel.community_id)
                .where(Message.owed_until < now, Channel.platform == platform,
                       and_(Message.created_at > now - timedelta(seconds=within_s),
                            Message.platform_message_id.is_not(None)))
                .order_by(Message.id).limit(limit))).all()
        return [OwedMessage(str(c), str(ch), str(m)) for c, ch, m in rows]

    async def recent_channels(self, platform: str, within_s: float,
                              community: str | None = None) -> list[ReadBack]:
        """`platform`'s channels (of one `community`, else all) with a user message in the
        last `within_s`, each with where to read it back from: its oldest owed message
        (included), else its newest message."""
        cutoff = utcnow() - timedelta(seconds=within_s)
        recent = (Message.created_at > cutoff, Message.role == "user",
                  Message.platform_message_id.is_not(None))
        newest = (select(Message.channel_id, func.max(Message.id).label("id"))
                  .where(*recent).group_by(Message.channel_id).subquery())
        owed = (select(Message.channel_id, func.min(Message.id).label("id"))
                .where(*recent, Message.owed_until.is_not(None))
                .group_by(Message.channel_id).subquery())
        start = func.coalesce(owed.c.id, newest.c.id)
        async with self.store.autocommit() as conn:
            rows = (await conn.execute(
                select(Community.external_id, Channel.external_id,
                       Message.platform_message_id, owed.c.id.is_not(None))
                .select_from(newest)
                .outerjoin(owed, owed.c.channel_id == newest.c.channel_id)
                .join(Message, Message.id == start)
                .join(Channel, Channel.id == Message.channel_id)
                .join(Community, Community.id == Channel.community_id)
                .where(Channel.platform == platform,
                       *([Community.external_id == community] if community else [])))).all()
        return [ReadBack(str(c), str(ch), str(m), bool(owes)) for c, ch, m, owes in rows]
