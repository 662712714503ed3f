"""Every write that changes what the rollups summarise keeps them equal to a recomputation:
feedback added and taken back, a regenerated reply, a channel reset, a user forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.analytics.events import FeedbackEvent, MessageEvent
from bot.storage import Store
from bot.storage.events import Events
from bot.storage.feedback import Replies, replacing
from bot.storage.rollups import Rollups
from bot.storage.tables import Message, User
from tests.analytics import rollup_reference as ref
from tests.analytics.test_rollups import _rollups

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _history() -> list[MessageEvent | FeedbackEvent]:
    where = {"platform": "discord", "community": "g", "channel": "c1"}
    out: list[MessageEvent | FeedbackEvent] = []
    for i, user in enumerate(("alice", "bob", "alice")):
        ts = T0 + timedelta(minutes=2 * i)
        out.append(MessageEvent(f"u{i}", ts=ts, user=user, role="user", model=None,
                                text="hi", **where))
        out.append(MessageEvent(f"b{i}", ts=ts + timedelta(seconds=5), user="bot",
                                role="bot", model="gemma", text="hello", **where))
    out.append(FeedbackEvent(ts=T0 + timedelta(minutes=1), user="alice", message="b0",
                             kind="up", **where))
    return out


async def _equal(store: Store) -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    await Rollups(store).catch_up()
    remaining = await Events(store).export("g", "discord")
    users, replies = await _rollups(store)
    assert users == ref.user_days(remaining)
    assert replies == ref.reply_days(remaining)
    return users, replies


async def test_every_write_keeps_rollups_equal_to_a_recomputation(store: Store) -> None:
    await Events(store).import_events(_history())
    _, before = await _equal(store)
    assert before["gemma", "uniform", T0.date().toordinal()][3] == 1  # one 👍
    async with store.session() as s:
        ids = {ext: mid for ext, mid in await s.execute(select(Message.external_id, Message.id))}
        alice = await s.scalar(select(User.id).where(User.external_id == "alice"))
    assert alice is not None
    replies = Replies(store)

    await replies.remove_feedback(ids["b0"], alice, "up")  # un-reacting
    _, after = await _equal(store)
    assert after["gemma", "uniform", T0.date().toordinal()][3] == 0

    assert await replies.add_feedback(ids["b1"], alice, "down")
    await _equal(store)
    assert await replies.add_feedback(ids["b2"], alice, "regenerate")
    async with store.engine.begin() as conn:  # as a regenerated reply's store marks it
        await replacing(ids["b2"])(conn, ids["b1"])
    await _equal(store)
    await store.reset_channel(await _channel(store))
    await _equal(store)
    await Events(store).forget("discord", "bob")
    users, _ = await _equal(store)
    assert not any(u == "bob" for u, _, _ in users)


async def _channel(store: Store) -> int:
    async with store.session() as s:
        cid = await s.scalar(select(Message.channel_id).limit(1))
    assert cid is not None
    return cid
