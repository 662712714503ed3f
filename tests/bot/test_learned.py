"""The `learned` mode through the real core: chosen by `/mode learned`, fed by continuations,
👍 / 👎 and regenerate, persisted, shown by `/blend status`, and rebuilt from the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from bot.analytics import FeedbackEvent, MessageEvent
from bot.conversation import Conversations, InboundEvent
from bot.storage import Store
from bot.storage.events import Events
from bot.storage.tables import LearnedArm
from engines import BlendedEngine
from engines.bandit import Arm
from tests.memory_outbox import MemoryOutbox, core_for, regenerate
from tests.stubs import StubModel

GAMMA = 0.997  # the default discount


def said(text: str, *, admin: bool = False) -> InboundEvent:
    return InboundEvent("telegram", "g", "c1", "7", "Alice", text, is_admin=admin, is_dm=True)


async def yes() -> bool:
    return True


def engine(*ids: str) -> BlendedEngine:
    return BlendedEngine([StubModel(i) for i in ids], seed=5)


@pytest.fixture
def core(store: Store) -> Conversations:
    return core_for(store, engine("good", "bad"), rate_limit=100)


async def community(core: Conversations) -> int:
    return (await core.service.channel(said(""))).community_id


async def stored(core: Conversations) -> dict[str, Arm]:
    arms = await core.service.learning.arms_table.arms(await community(core))
    assert arms is not None
    return arms


def close(a: dict[str, Arm], b: dict[str, Arm]) -> bool:
    return a.keys() == b.keys() and all(
        a[m].wins == pytest.approx(b[m].wins) and a[m].losses == pytest.approx(b[m].losses)
        for m in a)


async def test_mode_learned_is_a_typed_command_and_status_shows_the_shares(
        core: Conversations) -> None:
    outbox = MemoryOutbox()
    member = await core.text_command(said("/mode learned"), ["mode", "learned"], outbox,
                                     is_admin=lambda: _no())
    assert member is not None and not member.ok
    done = await core.text_command(said("/mode learned", admin=True), ["mode", "learned"],
                                   outbox, is_admin=yes)
    assert done is not None and done.text == "Blend mode is now learned."
    usage = await core.text_command(said("/mode"), ["mode"], outbox, is_admin=yes)
    assert usage is not None and "learned" in usage.text  # listed with the other modes
    status = await core.commands.blend_status(said("/status"))
    assert "Mode: learned" in status.text
    assert "Learned shares: good 50%, bad 50%" in status.text  # no evidence yet


async def _no() -> bool:
    return False


async def test_replies_learn_from_continuation_and_feedback_and_rebuild_the_same(
        core: Conversations, store: Store) -> None:
    await core.commands.blend_mode(said("", admin=True), "learned")
    outbox = MemoryOutbox()
    assert await core.service.learning.arms_table.arms(await community(core)) is None
    first = await core.handle(said("hello"), outbox)  # `learned` builds its evidence
    assert first.kind == "reply" and first.model_id in ("good", "bad")
    assert (await stored(core))[first.model_id] == Arm(0.0, 1.0)  # a loss until continued
    second = await core.handle(said("and then?"), outbox)  # Alice continued at once
    arms = await stored(core)
    assert arms[first.model_id].wins == pytest.approx(GAMMA)  # one reply later
    assert second.model_id is not None and arms[second.model_id].losses >= 1.0

    for n in range(30):  # 👍 what "good" writes, 👎 what "bad" writes
        reply = await core.handle(said(f"message {n}"), outbox)
        assert reply.message_id is not None
        [shown, *_] = await core.service.replies.deliveries(reply.message_id)
        await core.feedback(said(""), shown, "up" if reply.model_id == "good" else "down")
    last = await core.handle(said("one more"), outbox)
    if last.model_id == "bad":
        await regenerate(core, said(""), last.message_id, outbox)

    arms = await stored(core)
    # every reply was continued; 👍 adds a win to "good", 👎 a loss to "bad"
    assert arms["good"].mean(1.0) > 0.85 and arms["bad"].mean(1.0) < 0.6
    status = await core.commands.blend_status(said(""))
    shares = dict(part.rsplit(" ", 1) for part in
                  status.text.split("Learned shares: ")[1].split("\n")[0].split(", "))
    assert int(shares["good"].rstrip("%")) > int(shares["bad"].rstrip("%")) >= 10

    async with store.session() as s:  # the table is lost: rebuilt from the events
        await s.execute(delete(LearnedArm))
        await s.commit()
    rebuilt = await core.service.learning.arms(await community(core))
    assert close(rebuilt, arms)
    assert close(await stored(core), arms)


async def test_a_taken_back_thumb_is_taken_back(core: Conversations) -> None:
    await core.commands.blend_mode(said("", admin=True), "learned")
    outbox = MemoryOutbox()
    reply = await core.handle(said("hi"), outbox)
    assert reply.message_id is not None and reply.model_id is not None
    [shown] = await core.service.replies.deliveries(reply.message_id)
    before = (await stored(core))[reply.model_id]
    assert await core.feedback(said(""), shown, "up", toggle=True) == "Thanks for the 👍"
    assert (await stored(core))[reply.model_id].wins == pytest.approx(before.wins + 1)
    assert await core.feedback(said(""), shown, "up", toggle=True) == "Took back your 👍"
    assert (await stored(core))[reply.model_id] == before


async def test_rewards_for_a_member_that_left_the_blend_are_ignored(
        core: Conversations, store: Store) -> None:
    await core.commands.blend_mode(said("", admin=True), "learned")
    outbox = MemoryOutbox()
    replies = [await core.handle(said(f"m{n}"), outbox) for n in range(6)]
    gone = next(r for r in replies if r.model_id == "bad")
    assert gone.message_id is not None
    before = await stored(core)
    smaller = core_for(store, engine("good"), rate_limit=100)  # "bad" was removed
    [shown, *_] = await smaller.service.replies.deliveries(gone.message_id)
    await smaller.feedback(said(""), shown, "down")
    assert (await stored(smaller))["bad"] == before["bad"]
    await smaller.commands.blend_mode(said("", admin=True), "learned")
    status = await smaller.commands.blend_status(said(""))
    assert "Learned shares: good 100%" in status.text


async def test_imported_events_count_once_the_evidence_is_rebuilt(
        core: Conversations, store: Store) -> None:
    await core.commands.blend_mode(said("", admin=True), "learned")
    outbox = MemoryOutbox()
    await core.handle(said("hi"), outbox)
    before = await stored(core)
    at = datetime.now(UTC) + timedelta(hours=1)
    where = {"platform": "telegram", "community": "g", "channel": "c1"}
    imported = [
        MessageEvent(id="x1", ts=at, user="7", role="user", model=None, text="back", **where),
        MessageEvent(id="x2", ts=at + timedelta(seconds=5), user="bot", role="bot",
                     model="good", text="welcome back", **where),
        FeedbackEvent(ts=at + timedelta(seconds=9), user="7", message="x2", kind="up",
                      **where),
    ]
    await Events(store).import_events(imported)  # type: ignore[arg-type]
    after = await core.service.learning.arms(await community(core))
    assert after["good"].wins == pytest.approx(before["good"].wins * GAMMA + 1.0)
