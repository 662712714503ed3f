"""Deleting data in the store: `forget` of live rows (facts, candidates, deliveries,
summaries, the private chat), old text purged with the aggregates kept, and communities the
bot left deleted after their grace period unless it came back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.analytics import MessageEvent
from bot.storage import Store
from bot.storage.events import Events
from bot.storage.memory import Memories, Summary
from bot.storage.privacy import Privacy
from bot.storage.tables import (
    CandidateRow,
    Community,
    Delivery,
    MemoryFact,
    MemorySummary,
    Message,
    RollupReplyDay,
    RollupUserDay,
    User,
    utcnow,
)
from bot.upkeep import Upkeep
from tests.analytics.helpers import at


async def _count(store: Store, model: type, *where: object) -> int:
    async with store.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_forget_deletes_live_rows_of_the_user_and_their_private_chat(store: Store) -> None:
    group = await store.ensure_channel("discord", "g1", "Guild", "c1", "general")
    dm = await store.ensure_channel("discord", "dm-42", "DM with Ann", "d1", "DM")
    ann = await store.ensure_user("discord", "42", "Ann")
    ben = await store.ensure_user("discord", "43", "Ben")
    mine = await store.add_message(group.id, "user", "Ann's secret", user_id=ann)

    async def candidates(conn, message_id: int) -> None:  # as a best_of_n reply stores them
        await conn.execute(CandidateRow.__table__.insert(), [
            {"message_id": message_id, "model_id": "a", "text": "candidate for Ann", "rank": 1,
             "created_at": utcnow()}])
        await conn.execute(Delivery.__table__.insert(), [
            {"message_id": message_id, "platform": "discord", "platform_message_id": "p1",
             "part": 0}])

    reply = await store.add_message(group.id, "assistant", "reply to Ann", model_id="a",
                                    also=[candidates])
    await store.add_message(group.id, "user", "Ben's words", user_id=ben)
    bens = await store.add_message(group.id, "assistant", "reply to Ben", model_id="a")
    await store.add_message(dm.id, "user", "Ann in private", user_id=ann)
    memories = Memories(store)
    await memories.add_fact("Ann likes tea", channel_id=group.id, user_id=ann, author_id=ann)
    await memories.add_fact("channel fact by Ben", channel_id=group.id, user_id=None,
                            author_id=ben)
    await memories.add_summary(group.id, Summary("Ann said a secret", mine, reply, 2, "a"))

    done = await Privacy(store).forget_user(ann)
    assert (done.messages, done.replies, done.facts, done.communities, done.identity) == (
        2, 1, 1, 1, True)  # their message in the group and the one in private
    assert [m.text for m in await store.history(group.id)] == ["Ben's words", "reply to Ben"]
    assert await _count(store, CandidateRow) == 0 and await _count(store, Delivery) == 0
    assert await _count(store, MemorySummary) == 0
    assert await _count(store, MemoryFact) == 1  # Ben's channel fact stays
    assert await _count(store, User, User.external_id == "42") == 0
    assert await _count(store, Community, Community.external_id == "dm-42") == 0
    assert await _count(store, Message, Message.id == bens) == 1


async def test_purged_text_keeps_the_aggregates(store: Store) -> None:
    old, new = at(1, "10:00"), utcnow() - timedelta(hours=1)
    events = [MessageEvent(f"m{n}", ts, "discord", "g1", "c1", user, role, model, text)
              for n, (ts, user, role, model, text) in enumerate([
                  (old, "ann", "user", None, "an old secret"),
                  (old + timedelta(seconds=20), "bot", "bot", "a", "an old reply"),
                  (new, "ann", "user", None, "a new message")])]
    await Events(store).import_events(events)

    async def rollups() -> tuple[list, list]:
        async with store.session() as s:
            users = sorted((r.user_id, r.scope, r.day, r.messages)
                           for r in await s.scalars(select(RollupUserDay)))
            replies = sorted((r.model, r.day, r.replies)
                             for r in await s.scalars(select(RollupReplyDay)))
        return users, replies

    before = await rollups()
    done = await Upkeep(store, retention_days=7, grace_days=30).run_once()
    assert (done.purged, done.communities) == (2, 0)
    texts = [e.text for e in await Events(store).export()]
    assert texts == ["", "", "a new message"]
    assert await rollups() == before  # reports do not change
    if store.url.startswith("sqlite"):  # nor is the old text left in the files
        files = Path(store.url.split("///", 1)[1]).parent.glob("blendbot.db*")
        assert not any(b"an old secret" in f.read_bytes() for f in files)
    channel = await store.find_channel("discord", "c1")
    assert channel is not None
    assert [m.text for m in await store.history(channel.id)] == ["a new message"]


async def test_a_community_left_is_deleted_after_its_grace_period_unless_it_returns(
        store: Store) -> None:
    for community in ("g-gone", "g-back", "g-stays"):
        channel = await store.ensure_channel("telegram", community, community, f"{community}-c",
                                             "chat")
        user = await store.ensure_user("telegram", f"{community}-user", "Someone")
        await store.add_message(channel.id, "user", f"hello from {community}", user_id=user)
    privacy = Privacy(store)
    long_ago = utcnow() - timedelta(days=31)
    assert await privacy.left("telegram", "g-gone", long_ago)
    assert await privacy.left("telegram", "g-back", long_ago)
    assert not await privacy.left("telegram", "g-gone")  # already noted: the first time counts
    assert await privacy.returned("telegram", "g-back")

    upkeep = Upkeep(store, retention_days=None, grace_days=30)
    done = await upkeep.run_once()
    assert done.communities == 1
    async with store.session() as s:
        left = sorted(await s.scalars(select(Community.external_id)))
        users = sorted(await s.scalars(select(User.external_id)))
    assert left == ["g-back", "g-stays"]
    assert users == ["g-back-user", "g-stays-user"]
    assert (await upkeep.run_once()).communities == 0
