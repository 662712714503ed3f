"""The `learned` mode's table: each community's discounted evidence per blend member, and
the reads the reward hook needs (which replies a user message continues, a reply's age)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from engines.bandit import Arm

from .store import Store
from .tables import Channel, Community, LearnedArm, Message

Reply = tuple[int, str]  # stored reply id, model id


class LearnedArms:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def arms(self, community_id: int) -> dict[str, Arm] | None:
        """The community's evidence per member; None when it has none stored (lost or new)."""
        async with self.store.session() as s:
            rows = (await s.scalars(select(LearnedArm)
                                    .where(LearnedArm.community_id == community_id))).all()
        if not rows:
            return None
        return {r.model_id: Arm(max(0.0, r.wins), max(0.0, r.losses)) for r in rows}

    async def forget(self, community_ids: Iterable[int]) -> None:
        """Drop these communities' evidence (events were imported or deleted): the next
        use rebuilds it from the events."""
        ids = list(community_ids)
        if not ids:
            return
        async with self.store.session() as s:
            await s.execute(delete(LearnedArm).where(LearnedArm.community_id.in_(ids)))
            await s.commit()

    async def replace(self, community_id: int, arms: Mapping[str, Arm], step: int) -> None:
        async with self.store.session() as s:
            await s.execute(delete(LearnedArm).where(LearnedArm.community_id == community_id))
            s.add_all(LearnedArm(community_id=community_id, model_id=m, wins=a.wins,
                                 losses=a.losses, step=step) for m, a in arms.items())
            await s.commit()

    async def step(self, community_id: int, discount: float, model_id: str | None,
                   losses: float) -> bool:
        """One more reply: every member's evidence decays; `model_id` (if it is still in the
        blend) gets `losses` until the reply is known to have engaged. False (and nothing
        changed) when the community has no evidence stored."""
        async with self.store.session() as s:
            done = await s.execute(
                update(LearnedArm).where(LearnedArm.community_id == community_id)
                .values(wins=LearnedArm.wins * discount, losses=LearnedArm.losses * discount,
                        step=LearnedArm.step + 1))
            if not getattr(done, "rowcount", 0):
                return False
            await s.commit()
        if model_id is not None:
            await self.credit(community_id, model_id, 0.0, losses)
        return True

    async def credit(self, community_id: int, model_id: str, wins: float,
                     losses: float) -> None:
        """Add to a member's evidence (negative amounts take back), atomically."""
        async with self.store.session() as s:
            done = await s.execute(
                update(LearnedArm).where(LearnedArm.community_id == community_id,
                                         LearnedArm.model_id == model_id)
                .values(wins=LearnedArm.wins + wins, losses=LearnedArm.losses + losses))
            if getattr(done, "rowcount", 0):
                await s.commit()
                return
            step = await s.scalar(select(func.max(LearnedArm.step))
                                  .where(LearnedArm.community_id == community_id)) or 0
            s.add(LearnedArm(community_id=community_id, model_id=model_id,
                             wins=max(0.0, wins), losses=max(0.0, losses), step=step))
            try:
                await s.commit()
            except IntegrityError:  # another turn added it meanwhile
                await s.rollback()
                await self.credit(community_id, model_id, wins, losses)

    async def community(self, community_id: int) -> tuple[str, str] | None:
        """(platform, external id) of a community, for exporting its events."""
        async with self.store.session() as s:
            row = (await s.execute(select(Community.platform, Community.external_id)
                                   .where(Community.id == community_id))).first()
        return (row[0], row[1]) if row else None

    async def reply(self, reply_id: int) -> tuple[int, str] | None:
        """(community id, model id) of a stored reply with a model."""
        async with self.store.session() as s:
            row = (await s.execute(
                select(Channel.community_id, Message.model_id)
                .join(Channel, Channel.id == Message.channel_id)
                .where(Message.id == reply_id, Message.role == "assistant"))).first()
        return (row[0], row[1]) if row and row[1] is not None else None

    async def age(self, community_id: int, reply_id: int) -> int:
        """Replies with a model in the community after this one."""
        async with self.store.session() as s:
            return await s.scalar(
                select(func.count()).select_from(Message)
                .join(Channel, Channel.id == Message.channel_id)
                .where(Channel.community_id == community_id, Message.role == "assistant",
                       Message.model_id.is_not(None), Message.id > reply_id)) or 0

    async def continued(self, channel_id: int, user_id: int, message_id: int,
                        window: timedelta) -> list[Reply]:
        """Replies in the channel that the user message `message_id` continues: written in
        the `window` before it, answering this user (the latest user message before the
        reply is theirs), and this is the user's first message since.

        Only the messages since the user's previous one can qualify: two reads."""
        async with self.store.session() as s:
            at: datetime | None = await s.scalar(
                select(Message.created_at).where(Message.id == message_id))
            previous = await s.scalar(
                select(func.max(Message.id)).where(
                    Message.channel_id == channel_id, Message.role == "user",
                    Message.user_id == user_id, Message.id < message_id))
            if at is None or previous is None:
                return []  # a user's first message here continues nothing
            rows = (await s.execute(
                select(Message.id, Message.role, Message.user_id, Message.model_id,
                       Message.created_at)
                .where(Message.channel_id == channel_id, Message.id > previous,
                       Message.id < message_id)
                .order_by(Message.id))).all()
        found: list[Reply] = []
        author: int | None = user_id  # `previous` is theirs
        for reply_id, role, writer, model_id, created in rows:
            if role == "user":
                author = writer
            elif model_id is not None and author == user_id and created >= at - window:
                found.append((reply_id, model_id))
        return found
