"""The loop guard: a reply that repeats a recent one, or degenerates, is written again."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select

from bot.conversation.quality.repeats import degenerate, is_loop, repeats
from bot.storage import Store
from bot.storage.tables import Message
from engines import BlendedEngine, Conversation, Generation, SamplingParams
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel

STUCK = "You're right, I'm going to try another one. You know the answer"


class Parrot(StubModel):
    """Says `STUCK` unless its seed is one of `fresh` (then a reply naming the seed); keeps
    the seeds it was asked to sample with."""

    def __init__(self, model_id: str, fresh: set[int] | None = None, *,
                 always_fresh: bool = False) -> None:
        super().__init__(model_id)
        self.fresh, self.always_fresh = fresh, always_fresh
        self.seeds: list[int | None] = []

    async def stream(self, conversation: Conversation, params: SamplingParams, *,
                     channel: str | None = None) -> AsyncIterator[str | Generation]:
        self.calls.append(conversation)
        self.seeds.append(params.seed)
        fresh = self.always_fresh or (self.fresh is not None and params.seed in self.fresh)
        text = f"{self.id} writes something new with seed {params.seed}" if fresh else STUCK
        yield text
        yield Generation(self.id, text, 10, 5, 0.01)


def test_near_repeats_and_degenerate_text_are_loops() -> None:
    assert repeats("You're right! I'm going to try another one, you know the answer.",
                   [STUCK, "Hello"]) == STUCK
    assert repeats("A different thought about tea.", [STUCK]) is None
    assert degenerate("I am here. I am here. I am here. I am here.")
    assert not degenerate("Tea is brewed from leaves; coffee from roasted beans, mostly.")
    assert is_loop("ok", ["ok", "fine"]) == "repeat"
    assert is_loop("Sure, tell me more about your day.", ["ok"]) is None


async def test_a_repeated_reply_is_redrawn_from_another_member(store: Store) -> None:
    parrot, other = Parrot("parrot"), StubModel("other")
    engine = BlendedEngine([parrot, other], seed=3)
    core = core_for(store, engine)
    channel = await core.service.channel(event("x"))
    await core.service.store.add_message(channel.id, "assistant", STUCK, model_id="parrot")
    sent = [STUCK]
    for n in range(6):  # no reply is one of the three before it
        reply = await core.handle(event(f"still there? {n}"), MemoryOutbox())
        assert reply.kind == "reply" and reply.text not in sent[-3:]
        sent.append(reply.text)
    assert STUCK not in sent[1:4]  # the parrot's line came back only once out of sight
    redraws = await _redraws(store)
    assert sum(redraws) >= 1 and len(parrot.calls) >= sum(redraws)


async def test_a_one_model_blend_samples_again_with_a_fresh_seed(store: Store) -> None:
    first = BlendedEngine([Parrot("p")], seed=5)
    seeds = [first.rng.getrandbits(31) for _ in range(3)]
    parrot = Parrot("p", fresh={seeds[2]})  # only the third seed drawn writes anew
    core = core_for(store, BlendedEngine([parrot], seed=5), default_mode="single")
    channel = await core.service.channel(event("x"))
    await core.service.store.add_message(channel.id, "assistant", STUCK, model_id="p")
    reply = await core.handle(event("one more."), MemoryOutbox())
    assert parrot.seeds == seeds  # three draws, three different seeds
    assert reply.text == f"p writes something new with seed {seeds[2]}"
    assert await _redraws(store) == [0, 2]


async def test_seeds_differ_per_reply_and_repeat_per_seed(store: Store) -> None:
    runs = []
    for _ in range(2):
        parrot = Parrot("p", always_fresh=True)  # no redraws
        core = core_for(store, BlendedEngine([parrot], seed=1), default_mode="single")
        for n in range(4):
            await core.handle(event(f"ok {n}", channel=f"seeds{len(runs)}"), MemoryOutbox())
        runs.append(parrot.seeds)
    assert len(set(runs[0])) == 4 and runs[0] == runs[1]


async def test_still_looping_after_two_redraws_sends_one_reply(store: Store) -> None:
    parrot = Parrot("p")  # never writes anything new
    core = core_for(store, BlendedEngine([parrot], seed=2), default_mode="single")
    channel = await core.service.channel(event("x"))
    await core.service.store.add_message(channel.id, "assistant", STUCK, model_id="p")
    outbox = MemoryOutbox()
    reply = await core.handle(event("and another."), outbox)
    assert reply.kind == "reply" and len(parrot.calls) == 3 and outbox.texts() == [STUCK]


async def _redraws(store: Store) -> list[int]:
    async with store.session() as s:
        rows = await s.scalars(select(Message.loop_redraws).where(Message.role == "assistant")
                               .order_by(Message.id))
        return list(rows)


def test_a_reply_that_copies_a_long_stretch_of_an_earlier_one_is_a_repeat() -> None:
    earlier = ("I'm happy to hear that you have a team of passionate and talented people. "
               "They share your vision for creating something like this. What are their "
               "biggest challenges? I can give you some advice.")
    copy = ("I'm glad to hear that you have a team of passionate and talented people. They "
            "share your vision for creating something like this. Anyway, let us talk about "
            "the weather, the garden, the cats and the long walk we took on Sunday.")
    assert repeats(copy, [earlier]) == earlier
    assert repeats("I'm glad to hear that. What would you like to do next weekend?",
                   [earlier]) is None
