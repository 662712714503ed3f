from __future__ import annotations

import pytest

from bot.service import EMPTY_HINT, ChatService, IncomingMessage, Reply, ServiceOptions
from bot.storage import Store
from engines import BlendedEngine, Conversation
from tests.stubs import StubModel


def msg(text: str, user: str = "Alice", channel: str = "c1") -> IncomingMessage:
    return IncomingMessage("discord", "g1", channel, user.lower(), user, text,
                           community_name="Guild", channel_name="general")


def service(store: Store, *models: StubModel, mode: str = "uniform") -> ChatService:
    engine = BlendedEngine(list(models) or [StubModel("a")], seed=1)
    return ChatService(store, engine, ServiceOptions(default_mode=mode))


async def stored(svc: ChatService, channel: str = "c1") -> list[tuple[str, str, str | None]]:
    return [(m.role, m.text, m.model_id) for m in await svc.history("discord", channel)]


async def test_reply_is_stored_with_the_model_that_wrote_it(store: Store) -> None:
    svc = service(store, StubModel("a"), StubModel("b"))
    reply = await svc.handle(msg("hello"))
    assert reply.kind == "reply" and reply.model_id in {"a", "b"}
    [user, bot] = await svc.history("discord", "c1")
    assert (user.role, user.text, user.author) == ("user", "hello", "Alice")
    assert (bot.role, bot.model_id, bot.text, bot.mode) == (
        "assistant", reply.model_id, reply.text, "uniform")
    assert bot.completion_tokens == 3 and bot.latency_ms is not None


async def test_empty_message_gets_a_hint_and_no_model_call(store: Store) -> None:
    model = StubModel("a")
    svc = service(store, model)
    reply = await svc.handle(msg("   \n "))
    assert reply == Reply("hint", EMPTY_HINT)
    assert model.calls == [] and await stored(svc) == []


async def test_user_message_is_committed_before_the_model_runs(store: Store) -> None:
    seen: list[list[str]] = []

    async def peek(_: Conversation) -> None:
        seen.append([m.text for m in await svc.history("discord", "c1")])

    svc = service(store, StubModel("a", before=peek))
    await svc.handle(msg("first"))
    assert seen == [["first"]]


async def test_model_failing_mid_stream_leaves_no_half_turn(store: Store) -> None:
    svc = service(store, StubModel("a", fail_after=2))
    items = [i async for i in svc.stream(msg("hello"))]
    assert items[:2] == ["a", " reply"]
    final = items[-1]
    assert isinstance(final, Reply) and final.kind == "error"
    assert "failed while generating" in final.text
    assert await stored(svc) == [("user", "hello", None)]  # acknowledged turn kept, no reply


async def test_group_history_names_each_speaker(store: Store) -> None:
    model = StubModel("a")
    svc = service(store, model)
    await svc.handle(msg("hi, I'm Alice", "Alice"))
    await svc.handle(msg("and I'm Bob", "Bob"))
    conv = model.calls[-1]
    speakers = [(m.role, m.name) for m in conv.history]
    assert speakers == [("user", "Alice"), ("assistant", None), ("user", "Bob")]
    assert "Blendbot" in conv.system and conv.bot_name == "Blendbot"


async def test_channels_have_separate_histories(store: Store) -> None:
    model = StubModel("a")
    svc = service(store, model)
    await svc.handle(msg("in one", channel="c1"))
    await svc.handle(msg("in two", channel="c2"))
    assert [m.content for m in model.calls[-1].history] == ["in two"]


async def test_conversation_survives_a_restart(database) -> None:
    first = database.store()
    await first.open()
    await service(first, StubModel("a")).handle(msg("before restart"))
    await first.close()

    second = database.store()
    await second.open()
    try:
        model = StubModel("b")
        svc = service(second, model)
        await svc.handle(msg("after restart"))
        assert [m.content for m in model.calls[0].history] == [
            "before restart", "a reply 1", "after restart"]
        assert [r[2] for r in await stored(svc)] == [None, "a", None, "b"]
    finally:
        await second.close()


async def test_set_blend_checks_then_persists(store: Store) -> None:
    from engines import BlendError

    svc = service(store, StubModel("a"), StubModel("b"))
    channel = await svc.channel(msg(""))
    with pytest.raises(BlendError):
        await svc.set_blend(channel, mode="single", model_id="zzz")
    channel = await svc.set_blend(channel, mode="single", model_id="b")
    for _ in range(5):
        assert (await svc.handle(msg("x"))).model_id == "b"
    assert (await store.find_channel("discord", "c1")).mode == "single"


async def test_channel_with_a_removed_model_answers_politely(store: Store) -> None:
    svc = service(store, StubModel("a"), StubModel("b"))
    channel = await svc.channel(msg(""))
    await svc.set_blend(channel, mode="single", model_id="b")
    after_config_change = service(store, StubModel("a"))
    reply = await after_config_change.handle(msg("still there?"))
    assert reply.kind == "error" and "unknown model 'b'" in reply.text
