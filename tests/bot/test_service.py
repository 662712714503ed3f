"""The core's path of one message on a real database, through an in-memory outbox."""

from __future__ import annotations

import asyncio

import pytest

from bot.conversation import APOLOGY, Conversations, SendError
from bot.conversation.outbox import PlatformLimits
from bot.conversation.stages.addressed import EMPTY_HINT
from bot.storage import Store
from engines import BlendedEngine, Conversation
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel


def core(store: Store, *models: StubModel, mode: str = "uniform") -> Conversations:
    return core_for(store, BlendedEngine(list(models) or [StubModel("a")], seed=1),
                    default_mode=mode)


async def stored(core: Conversations, channel: str = "c1") -> list[tuple[str, str, str | None]]:
    return [(m.role, m.text, m.model_id) for m in await core.service.history("discord", channel)]


async def test_reply_is_stored_with_the_model_that_wrote_it(store: Store) -> None:
    c, outbox = core(store, StubModel("a"), StubModel("b")), MemoryOutbox()
    reply = await c.handle(event("hello"), outbox)
    assert reply.kind == "reply" and reply.model_id in {"a", "b"}
    [user, bot] = await c.service.history("discord", "c1")
    assert (user.role, user.text, user.author) == ("user", "hello", "Alice")
    assert (bot.role, bot.model_id, bot.text, bot.mode) == (
        "assistant", reply.model_id, reply.text, "uniform")
    assert bot.completion_tokens == 3 and bot.latency_ms is not None
    assert outbox.texts() == [reply.text]
    assert outbox.typed == 0  # shown at once: a "typing…" would only flash
    assert await c.service.replies.deliveries(bot.id) == list(outbox.shown)


async def test_a_reply_written_at_once_is_sent_once_without_a_preview(store: Store) -> None:
    c, outbox = core(store, StubModel("a")), MemoryOutbox()  # every word at once
    reply = await c.handle(event("hello"), outbox)
    assert reply.kind == "reply"
    assert [call for call, _, _ in outbox.calls] == ["send"]  # no preview, no edit
    assert outbox.texts() == [reply.text]


async def test_the_first_words_show_while_the_model_is_still_writing(store: Store) -> None:
    outbox = MemoryOutbox()
    shown_first: list[list[str]] = []

    class Slow(StubModel):  # stops after its first word until something shows (≤ 3 s)
        async def stream(self, conversation, params, *, channel=None):  # type: ignore[no-untyped-def]
            async for item in super().stream(conversation, params, channel=channel):
                yield item
                if not shown_first:
                    for _ in range(300):
                        if outbox.calls:
                            break
                        await asyncio.sleep(0.01)
                    shown_first.append([text for _, _, text in outbox.calls])

    reply = await core(store, Slow("a")).handle(event("hello"), outbox)
    assert reply.kind == "reply"
    assert shown_first == [["a …"]]  # the first word and the writing marker, at once
    assert outbox.texts() == [reply.text]  # the preview became the reply


async def test_typing_shows_while_a_reply_is_slow_to_start_and_stops_once_it_shows(
        store: Store) -> None:
    class Typing(MemoryOutbox):
        async def typing(self) -> None:
            await super().typing()
            self.calls.append(("typing", "", ""))

    async def think(_: object) -> None:
        await asyncio.sleep(0.9)  # past the grace, before the first words

    outbox = Typing(limits=PlatformLimits(max_chars=500, edit_interval_s=0.05,
                                          typing_every_s=0.15))
    c = core(store, StubModel("a", before=think, delay=0.4))  # then 0.8 s of words
    reply = await c.handle(event("hello"), outbox)
    kinds = [call for call, _, _ in outbox.calls]
    assert reply.kind == "reply" and outbox.texts() == [reply.text]
    first_shown = kinds.index("send")
    assert kinds[:first_shown].count("typing") >= 2  # again and again while nothing shows
    assert "typing" not in kinds[first_shown:]  # not under its own preview


async def test_empty_message_gets_a_hint_and_no_model_call(store: Store) -> None:
    model = StubModel("a")
    c, outbox = core(store, model), MemoryOutbox()
    reply = await c.handle(event("   \n "), outbox)
    assert (reply.kind, reply.text) == ("notice", EMPTY_HINT)
    assert model.calls == [] and await stored(c) == [] and outbox.texts() == [EMPTY_HINT]


async def test_user_message_is_committed_before_the_model_runs(store: Store) -> None:
    seen: list[list[str]] = []

    async def peek(_: Conversation) -> None:
        seen.append([m.text for m in await c.service.history("discord", "c1")])

    c = core(store, StubModel("a", before=peek))
    await c.handle(event("first"), MemoryOutbox())
    assert seen == [["first"]]


async def test_model_failing_mid_stream_leaves_no_half_turn(store: Store) -> None:
    c, outbox = core(store, StubModel("a", fail_after=2, delay=0.06)), MemoryOutbox()
    final = await c.handle(event("hello"), outbox)
    assert final.kind == "error" and "boom" not in final.text
    assert outbox.calls[0][0] == "send" and outbox.calls[0][2].startswith("a")  # a preview
    assert outbox.texts() == [final.text]  # ... replaced by the apology
    assert await stored(c) == [("user", "hello", None)]  # acknowledged turn kept, no reply


async def test_group_history_names_each_speaker(store: Store) -> None:
    model = StubModel("a")
    c = core(store, model)
    await c.handle(event("hi, I'm Alice", "Alice"), MemoryOutbox())
    await c.handle(event("and I'm Bob", "Bob"), MemoryOutbox())
    conv = model.calls[-1]
    speakers = [(m.role, m.name) for m in conv.history]
    assert speakers == [("user", "Alice"), ("assistant", None), ("user", "Bob")]
    assert "Blendbot" in conv.system and conv.bot_name == "Blendbot"


async def test_channels_have_separate_histories(store: Store) -> None:
    model = StubModel("a")
    c = core(store, model)
    await c.handle(event("in one", channel="c1"), MemoryOutbox())
    await c.handle(event("in two", channel="c2"), MemoryOutbox())
    assert [m.content for m in model.calls[-1].history] == ["in two"]


async def test_conversation_survives_a_restart(database) -> None:
    first = database.store()
    await first.open()
    await core(first, StubModel("a")).handle(event("before restart"), MemoryOutbox())
    await first.close()

    second = database.store()
    await second.open()
    try:
        model = StubModel("b")
        c = core(second, model)
        await c.handle(event("after restart"), MemoryOutbox())
        assert [m.content for m in model.calls[0].history] == [
            "before restart", "a reply 1", "after restart"]
        assert [r[2] for r in await stored(c)] == [None, "a", None, "b"]
    finally:
        await second.close()


async def test_set_blend_checks_then_persists(store: Store) -> None:
    from engines import BlendError

    c = core(store, StubModel("a"), StubModel("b"))
    svc = c.service
    channel = await svc.channel(event(""))
    with pytest.raises(BlendError):
        await svc.set_blend(channel, mode="single", model_id="zzz")
    channel = await svc.set_blend(channel, mode="single", model_id="b")
    for _ in range(5):
        assert (await c.handle(event("x"), MemoryOutbox())).model_id == "b"
    assert (await store.find_channel("discord", "c1")).mode == "single"


async def test_channel_with_a_removed_model_answers_politely(store: Store) -> None:
    c = core(store, StubModel("a"), StubModel("b"))
    channel = await c.service.channel(event(""))
    await c.service.set_blend(channel, mode="single", model_id="b")
    after_config_change = core(store, StubModel("a"))
    reply = await after_config_change.handle(event("still there?"), MemoryOutbox())
    assert reply.kind == "error" and "unknown model 'b'" in reply.text


async def test_a_reply_the_platform_refuses_is_kept_and_the_user_told_once(store: Store
                                                                            ) -> None:
    class Refusing(MemoryOutbox):
        async def send(self, text: str, *, reply_to: str | None, controls: bool) -> str:
            if controls:  # the reply itself (it carries the feedback controls)
                raise SendError("Telegram: Bad Request: chat not found")
            return await super().send(text, reply_to=reply_to, controls=controls)

        async def edit(self, message_id: str, text: str, *, controls: bool) -> None:
            if controls:
                raise SendError("Telegram: Bad Request: message can't be edited")
            await super().edit(message_id, text, controls=controls)

    c, outbox = core(store, StubModel("a")), Refusing()
    outcome = await c.handle(event("hello"), outbox)
    assert outcome.kind == "reply" and outbox.texts() == [APOLOGY]
    assert await stored(c) == [("user", "hello", None), ("assistant", "a reply 1", "a")]
