"""An experiment through the core: a user keeps one arm in every channel of the community,
other communities are untouched, it ends by itself after its days, and bad input is one
line that changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.conversation import Conversations, InboundEvent
from bot.conversation.experiments import arm_index
from bot.storage import Store
from bot.storage.experiments import Experiments
from bot.storage.tables import utcnow
from tests.memory_outbox import MemoryOutbox, core_for
from tests.stubs import StubModel

ARMS = ["one=single:a", "two=single:b"]


def event(user: str, channel: str, *, community: str = "g1", admin: bool = False,
          text: str = "hi") -> InboundEvent:
    return InboundEvent("discord", community, channel, user, user.title(), text,
                        is_admin=admin, is_dm=True)


@pytest.fixture
def core(store: Store) -> Conversations:
    return core_for(store, [StubModel("a"), StubModel("b")], rate_limit=100)


async def test_a_user_keeps_their_arm_in_every_channel(core: Conversations) -> None:
    start = await core.commands.experiment.start(event("root", "c0", admin=True), "t1", ARMS)
    assert start.ok, start.text
    users = [f"user{i}" for i in range(6)]
    for user in users:
        model = "ab"[arm_index("t1", "discord", user, 2)]
        for channel in ("c1", "c2", "c3"):
            outcome = await core.handle(event(user, channel), MemoryOutbox())
            assert outcome.model_id == model, (user, channel)
    elsewhere = [(await core.handle(event(u, "x1", community="g2"), MemoryOutbox())).model_id
                 for u in users for _ in range(3)]
    assert set(elsewhere) == {"a", "b"}  # another community: its channels' own uniform draw
    state = await core.service.store.find_channel("discord", "c1")
    assert state is not None
    table = Experiments(core.service.store)
    [experiment] = await table.all(state.community_id)
    assert sum((await table.counts(experiment.id)).values()) == len(users)  # once each
    status = await core.commands.blend_status(event("user0", "c1"))
    assert "Experiment t1 is running: each user's replies use their arm (one=single:a, " \
        "two=single:b), not this mode" in status.text


async def test_an_experiment_ends_after_its_days(core: Conversations) -> None:
    done = await core.commands.experiment.start(event("root", "c0", admin=True), "short",
                                                ARMS, "2")
    assert done.ok and "until" in done.text
    channel = await core.service.store.find_channel("discord", "c0")
    assert channel is not None
    [experiment] = await Experiments(core.service.store).all(channel.community_id)
    assert experiment.running(utcnow() + timedelta(days=1))
    assert not experiment.running(utcnow() + timedelta(days=2, seconds=1))


BAD = [
    (("bad name!", ARMS, None), "Experiment names are letters, digits"),
    (("t", ARMS, "0"), "Days must be a whole number from 1 to 365"),
    (("t", ARMS, "soon"), "Days must be a whole number from 1 to 365"),
    (("t", ["one=uniform", "one=single:b"], None), "arm 'one' is named twice"),
    (("t", ["one=uniform", "two"], None), "'two' is not arm=mode-or-model"),
    (("t", ["one=uniform", "two=uniform:a"], None), "arm two: unknown or unavailable"),
    (("t", ["one=fuse", "two=uniform"], None), "arm one: unknown or unavailable"),  # no ranker
]


async def test_bad_input_is_refused_in_one_line(core: Conversations) -> None:
    admin = event("root", "c0", admin=True)
    for args, says in BAD:
        result = await core.commands.experiment.start(admin, *args)
        assert not result.ok and says in result.text and "\n" not in result.text, args
    assert (await core.commands.experiment.status(admin)).text == \
        "No experiment is running here."


async def test_a_name_is_used_once_per_community(core: Conversations) -> None:
    admin = event("root", "c0", admin=True)
    assert (await core.commands.experiment.start(admin, "t", ARMS)).ok
    assert (await core.commands.experiment.stop(admin)).ok
    again = await core.commands.experiment.start(admin, "t", ARMS)
    assert not again.ok and "already had an experiment named t" in again.text
    status = await core.commands.experiment.status(admin)
    assert status.text.startswith("No experiment is running here. The last one: "
                                  "Experiment t, ran ")
