"""Candidates of ranked replies are stored; feedback becomes preference pairs."""

from __future__ import annotations

from bot.conversation import Conversations, InboundEvent
from bot.storage import Store
from bot.storage.candidates import candidates_of
from bot.storage.preferences import feedback_pairs
from engines import BlendedEngine
from tests.engines.test_ranked_modes import LengthJudge, Ready
from tests.memory_outbox import MemoryOutbox, core_for, event, regenerate
from tests.stubs import ScriptedModel, StubModel


def msg(text: str, user: str = "Alice") -> InboundEvent:
    return event(text, user)


class Chat:
    """A core and one conversation shown in memory."""

    def __init__(self, store: Store, *models: StubModel, mode: str) -> None:
        engine = BlendedEngine(list(models), seed=1, ranker=Ready(LengthJudge()))  # type: ignore[arg-type]
        self.core: Conversations = core_for(store, engine, default_mode=mode)
        self.outbox = MemoryOutbox()

    async def handle(self, m: InboundEvent):
        return await self.core.handle(m, self.outbox)

    async def regenerate(self, m: InboundEvent, reply_id: int | None):
        return await regenerate(self.core, m, reply_id, self.outbox)

    async def feedback(self, m: InboundEvent, reply_id: int, kind: str) -> bool:
        """By stored id: a replaced reply is no longer shown, yet keeps its feedback."""
        return await self.core.service.feedback(m, reply_id, kind)  # type: ignore[arg-type]

    async def history(self, platform: str, channel: str):
        return await self.core.service.history(platform, channel)


def service(store: Store, *models: StubModel, mode: str) -> Chat:
    return Chat(store, *models, mode=mode)


async def test_every_candidate_is_stored_with_its_rank_and_score(store: Store) -> None:
    svc = service(store, ScriptedModel("a", "short"), ScriptedModel("b", "a longer reply"),
                  mode="best_of_n")
    reply = await svc.handle(msg("hello"))
    assert reply.kind == "reply" and reply.text == "a longer reply" and reply.model_id == "b"
    assert reply.message_id is not None
    stored = await candidates_of(store, reply.message_id)
    assert [(c.model_id, c.text, c.rank) for c in stored] == [
        ("b", "a longer reply", 1), ("a", "short", 2)]
    assert stored[0].score is not None and stored[0].score > 0 > (stored[1].score or 0)
    assert stored[0].completion_tokens == 3
    [_, bot] = await svc.history("discord", "c1")
    assert (bot.mode, bot.model_id) == ("best_of_n", "b")


async def test_streamed_fused_replies_store_their_candidates_too(store: Store) -> None:
    svc = service(store, ScriptedModel("f", "merged answer here"), ScriptedModel("b", "b b"),
                  mode="fuse")
    final = await svc.handle(msg("hello"))
    assert final.kind == "reply" and final.message_id
    assert len(await candidates_of(store, final.message_id)) == 2


async def test_draw_one_replies_store_no_candidates(store: Store) -> None:
    svc = service(store, StubModel("a"), mode="uniform")
    reply = await svc.handle(msg("hello"))
    assert reply.message_id and await candidates_of(store, reply.message_id) == []


async def test_feedback_becomes_preference_pairs(store: Store) -> None:
    svc = service(store, StubModel("a"), mode="uniform")
    await svc.handle(msg("first question"))
    first = await svc.handle(msg("tell me a joke"))
    assert first.message_id
    second = await svc.regenerate(msg(""), first.message_id)  # first replaced by second
    assert second.message_id
    third = await svc.regenerate(msg(""), second.message_id)  # and second by third
    assert third.message_id
    assert await svc.feedback(msg("", "Bob"), second.message_id, "up")
    assert await svc.feedback(msg("", "Bob"), third.message_id, "down")

    pairs = await feedback_pairs(store)
    texts = {m.id: m.text for m in await svc.history("discord", "c1")}
    old = {first.message_id: first.text, second.message_id: second.text}
    got = {(p.chosen, p.rejected) for p in pairs}
    # 👍 beats 👎; the kept reply has 👎 so it does not beat the ones regenerated
    assert got == {(old[second.message_id], third.text)}
    assert texts[third.message_id] == third.text
    source = pairs[0].source
    assert source.splitlines() == ["Human: first question", "Assistant: a reply 1",
                                   "Human: tell me a joke"]


async def test_the_kept_reply_beats_the_regenerated_one(store: Store) -> None:
    svc = service(store, StubModel("a"), mode="uniform")
    first = await svc.handle(msg("hi"))
    assert first.message_id
    kept = await svc.regenerate(msg(""), first.message_id)
    pairs = await feedback_pairs(store)
    assert [(p.chosen, p.rejected) for p in pairs] == [(kept.text, first.text)]
    assert pairs[0].source == "Human: hi" and len(pairs[0].key) == 64


async def test_a_liked_best_of_n_reply_beats_the_candidates_ranked_below_it(store: Store
                                                                              ) -> None:
    svc = service(store, ScriptedModel("a", "short"), ScriptedModel("b", "a longer reply"),
                  ScriptedModel("c", "mid reply"), mode="best_of_n")
    liked = await svc.handle(msg("hello"))
    disliked = await svc.handle(msg("and again"))
    assert liked.message_id and disliked.message_id
    assert await svc.feedback(msg("", "Bob"), liked.message_id, "up")
    assert await svc.feedback(msg("", "Bob"), disliked.message_id, "down")
    pairs = await feedback_pairs(store)
    assert sorted((p.chosen, p.rejected) for p in pairs) == [
        ("a longer reply", "mid reply"), ("a longer reply", "short")]
    assert {p.source for p in pairs} == {"Human: hello"}
    [community] = {c for c in await _communities(store)}
    assert len(await feedback_pairs(store, community_id=community)) == 2
    assert await feedback_pairs(store, community_id=community + 1) == []


async def _communities(store: Store) -> list[int]:
    from sqlalchemy import select

    from bot.storage.tables import Community

    async with store.session() as s:
        return list((await s.execute(select(Community.id))).scalars())
