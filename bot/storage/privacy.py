"""Deleting people's data: one user (`forget`), a whole community, and old message text.

Every deletion marks the rollups it touches stale in its own transaction and catches them
up afterwards, so reports stay equal to a recomputation from what is left; the `learned`
evidence of those communities is dropped (rebuilt from what is left when next used). On
SQLite the connection deletes securely (`PRAGMA secure_delete`, see `schema`) and `scrub`
folds the write-ahead log back into the file and truncates it, so deleted text is not left
readable in either file; on PostgreSQL the rows are simply gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from .learned import LearnedArms
from .rollups import Rollups, mark_stale
from .store import Store
from .tables import (
    AccessRule,
    Assignment,
    CandidateRow,
    Channel,
    Community,
    Delivery,
    ExperimentRow,
    Feedback,
    LearnedArm,
    MemoryFact,
    MemorySummary,
    Message,
    ModerationRule,
    ReportRun,
    RollupChannelDay,
    RollupDirty,
    RollupReplyDay,
    RollupState,
    RollupUserDay,
    SafetySettings,
    SettingChange,
    TokenUsage,
    User,
    utcnow,
)

CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What a `forget` deleted."""

    messages: int = 0  # the user's own messages
    replies: int = 0  # the bot's replies to them
    feedback: int = 0
    facts: int = 0
    communities: int = 0  # their private chats with the bot (each its own community)
    identity: bool = False  # the user row itself (name and platform id)

    def line(self) -> str:
        return (f"{self.messages} messages, {self.replies} replies to them, "
                f"{self.feedback} feedback, {self.facts} pinned facts"
                + (f", {self.communities} private chats" if self.communities else "")
                + (" and the identity" if self.identity else ""))


def _chunks(ids: Iterable[int]) -> list[list[int]]:
    items = sorted(set(ids))
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def dm_community(platform: str, user: str) -> str:
    """The community id a user's private chat with the bot has (its id names the user)."""
    return f"dm-{user}" if platform == "discord" else user


class Privacy:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- lookups --------------------------------------------------------------------------

    async def user_id(self, platform: str, external_id: str) -> int | None:
        async with self.store.session() as s:
            return await s.scalar(select(User.id).where(
                User.platform == platform, User.external_id == external_id))

    async def community_id(self, platform: str, external_id: str) -> int | None:
        async with self.store.session() as s:
            return await s.scalar(select(Community.id).where(
                Community.platform == platform, Community.external_id == external_id))

    async def communities_of(self, platform: str, external_id: str) -> list[int]:
        """Every community with this external id (the same id may exist on two platforms
        only when `platform` is empty)."""
        async with self.store.session() as s:
            query = select(Community.id).where(Community.external_id == external_id)
            if platform:
                query = query.where(Community.platform == platform)
            return list(await s.scalars(query))

    async def has_data_in(self, user_id: int, community_id: int) -> bool:
        """Whether the user wrote, rated or pinned anything in the community."""
        channels = select(Channel.id).where(Channel.community_id == community_id)
        async with self.store.session() as s:
            wrote = await s.scalar(select(exists().where(
                Message.user_id == user_id, Message.channel_id.in_(channels))))
            rated = await s.scalar(select(exists().where(
                Feedback.user_id == user_id,
                Feedback.message_id.in_(select(Message.id).where(
                    Message.channel_id.in_(channels))))))
            pinned = await s.scalar(select(exists().where(
                MemoryFact.author_id == user_id, MemoryFact.channel_id.in_(channels))))
        return bool(wrote or rated or pinned)

    # ---- one user -------------------------------------------------------------------------

    async def forget_user(self, user_id: int, community_id: int | None = None) -> Forgotten:
        """Delete a user's messages, the bot's replies to them (and those replies'
        candidates and deliveries), their feedback, their pinned facts and, when nothing of
        theirs is left anywhere, their identity row; in `community_id` only, if given.
        Summaries of the channels they wrote in are dropped (written again from what is
        left). Their private chats with the bot go as whole communities."""
        async with self.store.session() as s:
            user = await s.get(User, user_id)
            if user is None:
                return Forgotten()
            scope = select(Channel.id)
            if community_id is not None:
                scope = scope.where(Channel.community_id == community_id)
            dms = [c for c in await s.scalars(select(Community.id).where(
                Community.platform == user.platform,
                Community.external_id == dm_community(user.platform, user.external_id)))
                if community_id in (None, c)]
            wrote = set(await s.scalars(select(Message.channel_id).distinct().where(
                Message.user_id == user_id, Message.role == "user",
                Message.channel_id.in_(scope))))
            mine, replies = await _their_messages(s, user_id, wrote)
            rated = set(await s.execute(
                select(Channel.community_id, Message.channel_id).distinct()
                .join(Message, Message.channel_id == Channel.id)
                .join(Feedback, Feedback.message_id == Message.id)
                .where(Feedback.user_id == user_id, Channel.id.in_(scope))))
            touched = rated | set(await s.execute(
                select(Channel.community_id, Channel.id).where(Channel.id.in_(wrote))))
            for cid, channel in touched:
                await mark_stale(s, cid, channel_id=channel, user_id=user_id)
            gone = await s.execute(delete(Feedback).where(
                Feedback.user_id == user_id,
                Feedback.message_id.in_(select(Message.id).where(
                    Message.channel_id.in_(scope)))))
            feedback = int(getattr(gone, "rowcount", 0) or 0)
            for chunk in _chunks([*mine, *replies]):
                for table in (Feedback, CandidateRow, Delivery):  # others' thumbs on them too
                    await s.execute(delete(table).where(table.message_id.in_(chunk)))
            for chunk in _chunks(replies):
                await s.execute(update(Message).where(Message.replaced_by_id.in_(chunk))
                                .values(replaced_by_id=None))
            for chunk in _chunks([*mine, *replies]):
                await s.execute(delete(Message).where(Message.id.in_(chunk)))
            if wrote:
                await s.execute(delete(MemorySummary).where(MemorySummary.channel_id.in_(wrote)))
            facts = await s.execute(delete(MemoryFact).where(or_(
                MemoryFact.user_id == user_id,
                (MemoryFact.author_id == user_id) & MemoryFact.channel_id.in_(scope))))
            await s.execute(update(SettingChange).where(
                SettingChange.user_id == user_id, SettingChange.channel_id.in_(scope))
                .values(user_id=None))
            arms = delete(Assignment).where(Assignment.user_id == user_id)
            if community_id is not None:
                arms = arms.where(Assignment.experiment_id.in_(select(ExperimentRow.id).where(
                    ExperimentRow.community_id == community_id)))
            await s.execute(arms)
            await s.execute(update(ExperimentRow).where(ExperimentRow.started_by == user_id)
                            .values(started_by=None))
            for counted in (RollupUserDay, TokenUsage):
                rollups = delete(counted).where(counted.user_id == user_id)
                if community_id is not None:
                    rollups = rollups.where(counted.community_id == community_id)
                await s.execute(rollups)
            await s.commit()
        for dm in dms:
            await self.delete_community(dm, scrub=False)
        identity = await self._drop_if_unused([user_id])
        communities = {cid for cid, _ in touched} - set(dms)  # those still there
        await Rollups(self.store).catch_up(communities)
        await LearnedArms(self.store).forget(communities)
        self._uncache()
        await self.scrub()
        return Forgotten(len(mine), len(replies), feedback,
                         int(getattr(facts, "rowcount", 0) or 0), len(dms), bool(identity))

    async def _drop_if_unused(self, user_ids: Iterable[int]) -> int:
        """Delete the users among `user_ids` that nothing refers to any more."""
        dropped = 0
        async with self.store.session() as s:
            for chunk in _chunks(user_ids):
                unused = (select(User.id).where(
                    User.id.in_(chunk),
                    ~exists().where(Message.user_id == User.id),
                    ~exists().where(Feedback.user_id == User.id),
                    ~exists().where(MemoryFact.user_id == User.id),
                    ~exists().where(MemoryFact.author_id == User.id),
                    ~exists().where(SettingChange.user_id == User.id),
                    ~exists().where(Assignment.user_id == User.id)))
                ids = list(await s.scalars(unused))
                if ids:
                    await s.execute(delete(RollupUserDay).where(RollupUserDay.user_id.in_(ids)))
                    await s.execute(delete(TokenUsage).where(TokenUsage.user_id.in_(ids)))
                    await s.execute(delete(User).where(User.id.in_(ids)))
                    dropped += len(ids)
            await s.commit()
        return dropped

    # ---- a community ----------------------------------------------------------------------

    async def delete_community(self, community_id: int, *, scrub: bool = True) -> int:
        """Delete a community and everything stored of it; people who have nothing left
        elsewhere go too. Returns the messages deleted."""
        channels = select(Channel.id).where(Channel.community_id == community_id)
        async with self.store.session() as s:
            people: set[int] = {u for u in await s.scalars(
                select(Message.user_id).distinct().where(Message.channel_id.in_(channels)))
                if u is not None}
            ids = list(await s.scalars(select(Message.id).where(
                Message.channel_id.in_(channels))))
            people |= set(await s.scalars(select(Feedback.user_id).distinct().where(
                Feedback.message_id.in_(select(Message.id).where(
                    Message.channel_id.in_(channels))))))
            people |= {u for u in await s.scalars(select(SettingChange.user_id).distinct()
                       .where(SettingChange.channel_id.in_(channels))) if u is not None}
            for chunk in _chunks(ids):
                for table in (Feedback, CandidateRow, Delivery):
                    await s.execute(delete(table).where(table.message_id.in_(chunk)))
            for chunk in _chunks(ids):
                await s.execute(delete(Message).where(Message.id.in_(chunk)))
            for kept in (MemorySummary, MemoryFact, SettingChange, AccessRule, Assignment):
                await s.execute(delete(kept).where(kept.channel_id.in_(channels)))
            await s.execute(delete(Channel).where(Channel.community_id == community_id))
            for rollup in (RollupUserDay, RollupReplyDay, RollupChannelDay, RollupState,
                           RollupDirty, ReportRun, LearnedArm, AccessRule, ModerationRule,
                           SafetySettings, TokenUsage, ExperimentRow):
                await s.execute(delete(rollup).where(rollup.community_id == community_id))
            await s.execute(delete(Community).where(Community.id == community_id))
            await s.commit()
        await self._drop_if_unused(people)
        self._uncache()
        if scrub:
            await self.scrub()
        return len(ids)

    async def left(self, platform: str, external_id: str, at: datetime | None = None) -> bool:
        """The bot was removed from the community (its data goes after the grace period)."""
        async with self.store.session() as s:
            done = await s.execute(update(Community).where(
                Community.platform == platform, Community.external_id == external_id,
                Community.left_at.is_(None)).values(left_at=at or utcnow()))
            await s.commit()
        return bool(getattr(done, "rowcount", 0))

    async def returned(self, platform: str, external_id: str) -> bool:
        """The bot is (again) in the community: nothing of it is to be deleted."""
        async with self.store.session() as s:
            done = await s.execute(update(Community).where(
                Community.platform == platform, Community.external_id == external_id,
                Community.left_at.is_not(None)).values(left_at=None))
            await s.commit()
        return bool(getattr(done, "rowcount", 0))

    async def departed(self, before: datetime) -> list[int]:
        """Communities the bot left before `before` and did not come back to."""
        async with self.store.session() as s:
            return list(await s.scalars(select(Community.id).where(
                Community.left_at.is_not(None), Community.left_at < before)))

    # ---- old text -------------------------------------------------------------------------

    async def purge_text(self, before: datetime) -> int:
        """Blank the text of messages and candidates written before `before`, keeping the
        rows (so reports and rollups do not change); each affected channel's conversation
        then starts after its purged messages. Returns the messages purged."""
        old = (Message.created_at < before) & (Message.text != "")
        async with self.store.session() as s:
            newest = dict((await s.execute(
                select(Message.channel_id, func.max(Message.id)).where(old)
                .group_by(Message.channel_id))).all())
            done = await s.execute(update(Message).where(old).values(text=""))
            await s.execute(update(CandidateRow).where(
                CandidateRow.created_at < before, CandidateRow.text != "").values(text=""))
            await s.execute(delete(MemorySummary).where(MemorySummary.created_at < before))
            for channel, last in newest.items():
                await s.execute(update(Channel).where(
                    Channel.id == channel,
                    or_(Channel.reset_after_id.is_(None), Channel.reset_after_id < last))
                    .values(reset_after_id=last))
            await s.commit()
        purged = int(getattr(done, "rowcount", 0) or 0)
        if purged:
            self._uncache()
            await self.scrub()
        return purged

    # ---- after deleting -------------------------------------------------------------------

    def _uncache(self) -> None:
        """This process's caches hold no deleted row (users, channels, recent history)."""
        self.store.forget_cached()

    async def scrub(self) -> None:
        """SQLite: fold the write-ahead log into the file and truncate it, so the pages
        that held deleted text (zeroed by secure_delete in the file) are not left in the
        log either. Other connections reading at the moment may keep a part of the log;
        the next checkpoint takes it. PostgreSQL: nothing to do."""
        if self.store.engine.dialect.name != "sqlite":
            return
        async with self.store.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


async def _their_messages(s: AsyncSession, user_id: int, channels: Sequence[int] | set[int]
                          ) -> tuple[list[int], list[int]]:
    """The user's messages in these channels, and the bot's replies to them: every reply
    (regenerated ones too, not greetings) between one of theirs and the next user message
    of the channel, in time order."""
    mine: list[int] = []
    replies: list[int] = []
    for chunk in _chunks(channels):
        rows: Any = await s.execute(
            select(Message.id, Message.channel_id, Message.role, Message.user_id,
                   Message.mode)
            .where(Message.channel_id.in_(chunk))
            .order_by(Message.channel_id, Message.created_at, Message.id))
        channel, theirs = None, False
        for mid, cid, role, uid, mode in rows:
            if cid != channel:
                channel, theirs = cid, False
            if role == "user":
                theirs = uid == user_id
                if theirs:
                    mine.append(mid)
            elif theirs and mode != "greeting":
                replies.append(mid)
    return mine, replies
