"""Rollups stay equal to a recomputation from the remaining events: out-of-order and
duplicate imports, and a `forget` in the middle."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from bot.analytics.events import Event, FeedbackEvent, MessageEvent, SettingEvent
from bot.storage import Store
from bot.storage.events import Events
from bot.storage.tables import Community, RollupReplyDay, RollupUserDay, User
from tests.analytics import rollup_reference as ref

START = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # near midnight: sessions cross days
USERS = ("alice", "bob", "carol")


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    n = draw(st.integers(1, 40))
    offsets = draw(st.lists(st.integers(0, 3 * 24 * 60), min_size=n, max_size=n, unique=True))
    events: list[Event] = []
    replies: list[MessageEvent] = []
    for i, minute in enumerate(sorted(offsets)):
        ts = START + timedelta(minutes=minute, seconds=draw(st.integers(0, 59)))
        channel = draw(st.sampled_from(("c1", "c2")))
        kind = draw(st.sampled_from(("user", "user", "bot", "bot", "feedback", "mode")))
        where: dict[str, Any] = {"ts": ts, "platform": "discord", "community": "g",
                                 "channel": channel}
        if kind == "user":
            events.append(MessageEvent(f"m{i}", user=draw(st.sampled_from(USERS)), role="user",
                                       model=None, text="hi", **where))
        elif kind == "bot":
            reply = MessageEvent(f"m{i}", user="bot", role="bot",
                                 model=draw(st.sampled_from(("a", "b", None))), text="", **where)
            replies.append(reply)
            events.append(reply)
        elif kind == "feedback" and replies:
            target = draw(st.sampled_from(replies))
            events.append(FeedbackEvent(**{**where, "channel": target.channel},
                                        user=draw(st.sampled_from(USERS)), message=target.id,
                                        kind=draw(st.sampled_from(("up", "down", "regenerate")))))
        elif kind == "mode":
            events.append(SettingEvent(user="admin", setting="mode",
                                       value=draw(st.sampled_from(("single", "fuse", None))),
                                       **where))
    return events


async def _rollups(store: Store) -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    async with store.session() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "g"))
        users = {
            (r.user_id, r.scope, r.day): (r.messages, r.sessions, round(r.minutes, 6))
            for r in await s.scalars(select(RollupUserDay).where(RollupUserDay.community_id == cid))
        }
        names = {u: x for u, x in await s.execute(select(User.id, User.external_id))}
        replies: dict[tuple, list[int]] = {}
        for r in await s.scalars(select(RollupReplyDay).where(RollupReplyDay.community_id == cid)):
            row = replies.setdefault((r.model, r.mode, r.day), [0] * 6)
            for j, v in enumerate((r.replies, r.judged, r.continued, r.thumbs_up,
                                   r.thumbs_down, r.regenerated)):
                row[j] += v
    return ({(names[u], sc, d): v for (u, sc, d), v in users.items()},
            {k: tuple(v) for k, v in replies.items()})


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=histories(), seed=st.integers(0, 10**6), forget=st.sampled_from((None, *USERS)))
async def test_rollups_equal_a_recomputation(store: Store, events: list[Event], seed: int,
                                             forget: str | None) -> None:
    async with store.session() as s:  # every example starts from an empty database
        for table in ("feedback", "setting_changes", "messages", "rollup_user_days",
                      "rollup_reply_days", "rollup_channel_days", "rollup_state"):
            await s.execute(text(f"DELETE FROM {table}"))
        await s.commit()
    rng = random.Random(seed)
    shuffled = events[:]
    rng.shuffle(shuffled)  # out of time order
    cut = rng.randrange(len(shuffled) + 1)
    db = Events(store)
    await db.import_events(shuffled[:cut])
    if forget:
        await db.forget("discord", forget)
    await db.import_events(shuffled[cut:] + shuffled[: rng.randrange(cut + 1)])  # duplicates
    remaining = await db.export("g", "discord")

    users, replies = await _rollups(store)
    assert users == ref.user_days(remaining)
    assert replies == ref.reply_days(remaining)
