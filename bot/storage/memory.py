"""A channel's memory beyond its context window: rolling summaries (each with the turn range
it covers) and pinned facts (of the channel, or of one user)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import delete, func, or_, select

from .store import Store
from .tables import Channel, MemoryFact, MemorySummary, Message, User


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    first_message_id: int
    last_message_id: int
    turns: int
    model_id: str | None

    def as_json(self) -> dict[str, object]:
        return {"text": self.text, "first_message_id": self.first_message_id,
                "last_message_id": self.last_message_id, "turns": self.turns,
                "model_id": self.model_id}


@dataclass(frozen=True, slots=True)
class Fact:
    id: int
    text: str
    user_id: int | None  # None: the channel's
    user_name: str | None

    @property
    def scope(self) -> str:
        return "channel" if self.user_id is None else "user"


class Memories:
    """Summaries and facts as a turn reads them are kept in the Store's `ChannelCache`; the
    writes here drop what they change."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- summaries ----------------------------------------------------------------------

    async def summary(self, channel_id: int) -> Summary | None:
        """The channel's newest summary since its last reset, if every message it covers is
        still stored (a summary of deleted messages is dropped, to be written again)."""
        cached = self.store.cached.get(channel_id, "summary")
        if not self.store.cached.missing(cached):
            return cast(Summary | None, cached)
        return self.store.cached.put(channel_id, "summary", await self._summary(channel_id))

    async def _summary(self, channel_id: int) -> Summary | None:
        """One query: the newest summary since the reset, with how many of its messages are
        still stored."""
        ms = MemorySummary
        reset = (select(func.coalesce(Channel.reset_after_id, 0))
                 .where(Channel.id == channel_id).scalar_subquery())
        still = (select(func.count(Message.id))
                 .where(Message.channel_id == ms.channel_id, Message.replaced_by_id.is_(None),
                        Message.id.between(ms.first_message_id, ms.last_message_id))
                 .correlate(ms).scalar_subquery())
        query = (select(ms.text, ms.first_message_id, ms.last_message_id, ms.turns,
                        ms.model_id, still.label("still"))
                 .where(ms.channel_id == channel_id, ms.first_message_id > reset)
                 .order_by(ms.id.desc()).limit(1))
        async with self.store.autocommit() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        if row.still != row.turns:
            async with self.store.engine.begin() as conn:
                await conn.execute(delete(ms).where(ms.channel_id == channel_id))
            return None
        return Summary(row.text, int(row.first_message_id), int(row.last_message_id),
                       row.turns, row.model_id)

    async def add_summary(self, channel_id: int, summary: Summary) -> None:
        async with self.store.session() as s:
            s.add(MemorySummary(channel_id=channel_id, text=summary.text,
                                first_message_id=summary.first_message_id,
                                last_message_id=summary.last_message_id,
                                turns=summary.turns, model_id=summary.model_id))
            await s.commit()
        self.store.cached.forget(channel_id, "summary")

    # ---- pinned facts -------------------------------------------------------------------

    async def facts(self, channel_id: int, user_ids: list[int]) -> list[Fact]:
        """The channel's facts and those of `user_ids`, oldest first."""
        key = tuple(sorted(set(user_ids)))
        cached = self.store.cached.get(channel_id, "facts", key)
        if self.store.cached.missing(cached):
            cached = self.store.cached.put(channel_id, "facts",
                                           tuple(await self._facts(channel_id, user_ids)), key)
        return list(cached)

    async def _facts(self, channel_id: int, user_ids: list[int]) -> list[Fact]:
        async with self.store.autocommit() as conn:
            rows = await conn.execute(
                select(MemoryFact.id, MemoryFact.text, MemoryFact.user_id, User.display_name)
                .outerjoin(User, User.id == MemoryFact.user_id)
                .where(or_(MemoryFact.channel_id == channel_id,
                           MemoryFact.user_id.in_(user_ids or [-1])))
                .order_by(MemoryFact.id))
            return [Fact(*row) for row in rows]

    async def add_fact(self, text: str, *, channel_id: int | None, user_id: int | None,
                       author_id: int | None) -> int:
        async with self.store.session() as s:
            row = MemoryFact(channel_id=channel_id if user_id is None else None,
                             user_id=user_id, author_id=author_id, text=text)
            s.add(row)
            await s.commit()
        self.store.cached.forget(kind="facts")  # a user's facts go with them everywhere
        return int(row.id)

    async def delete_fact(self, fact_id: int) -> None:
        async with self.store.session() as s:
            await s.execute(delete(MemoryFact).where(MemoryFact.id == fact_id))
            await s.commit()
        self.store.cached.forget(kind="facts")

    async def user_ids(self, channel_id: int, message_ids: list[int]) -> list[int]:
        """The authors of those messages."""
        if not message_ids:
            return []
        async with self.store.autocommit() as conn:
            rows = await conn.scalars(select(Message.user_id).distinct().where(
                Message.id.in_(message_ids), Message.user_id.is_not(None)))
            return [int(u) for u in rows if u is not None]
