"""Owed replies over a real database: a message whose turn died with its process (killed
mid-generation) is answered exactly once — by the platform's redelivery or by another
process's sweep — never while the turn that holds it is alive; each owed message gets its own
reply, and one whose reply was stored but not shown is shown that reply."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.conversation import Conversations, InboundEvent
from bot.conversation.pipeline import Outcome
from bot.storage import Store
from engines import Conversation, Generation, SamplingParams
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel

LEASE_S = 1.0  # a loaded 2-core CI machine once took over 0.4 s between a record and a sweep


def core(store: Store, **options: Any) -> Conversations:
    c = core_for(store, [StubModel("a", **options)])
    c.owed.lease_s = LEASE_S
    return c


def model(c: Conversations) -> StubModel:
    stub = c.service.engine.models["a"]
    assert isinstance(stub, StubModel)
    return stub


def hanging() -> tuple[asyncio.Event, Callable[[Conversation], Any]]:
    """A model that starts generating and then waits (for the test, or to be killed)."""
    started = asyncio.Event()

    async def before(_: Conversation) -> None:
        started.set()
        await asyncio.Event().wait()
    return started, before


async def killed_mid_generation(c: Conversations, e: InboundEvent) -> None:
    """`c` takes `e` and dies while the model generates (its lease is left to lapse)."""
    started, before = hanging()
    model(c).before = before
    task = asyncio.create_task(c.handle(e, MemoryOutbox()))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    model(c).before = None


def replies(outcomes: list[Outcome]) -> int:
    return sum(o.kind == "reply" for o in outcomes)


async def test_a_killed_turn_is_answered_once_by_the_platforms_redelivery(
        stores: tuple[Store, Store]) -> None:
    dead, live = core(stores[0]), core(stores[1])
    message = event("are you there?", message_id="p1")
    await killed_mid_generation(dead, message)
    outbox, loop = MemoryOutbox(), asyncio.get_running_loop()
    start = loop.time()
    answered = await live.handle(message, outbox)  # its lease still runs: waits for it
    assert answered.kind == "reply" and outbox.texts() == [answered.text]
    assert loop.time() - start > LEASE_S / 2
    later = [await live.handle(message, MemoryOutbox()) for _ in range(3)]  # Telegram retries
    assert replies(later) == 0
    history = await live.service.history("discord", "c1")
    assert [m.role for m in history] == ["user", "assistant"]  # stored once, answered once


async def test_a_redelivery_just_after_the_reply_does_not_wait_for_a_lease(
        stores: tuple[Store, Store], caplog: pytest.LogCaptureFixture) -> None:
    """The reply shows and its message settles a moment later: a redelivery to the same
    process meanwhile is known answered there, and the channel's next turn is not held up."""
    live = core(stores[0])
    message = event("hi", message_id="p1")
    assert (await live.handle(message, MemoryOutbox())).kind == "reply"
    with caplog.at_level(logging.INFO, logger="bot.conversation.owed"):
        assert (await live.handle(message, MemoryOutbox())).reason == "redelivered"
    assert "waiting for its lease" not in caplog.text


async def test_a_process_that_stops_mid_turn_cancels_it_and_the_next_one_answers_it_once(
        stores: tuple[Store, Store]) -> None:
    """SIGTERM (a deploy): the turns still running are cancelled before the store closes,
    not left to touch a closed database; the message stays owed to the next process."""
    stopping, live = core(stores[0]), core(stores[1])
    started, before = hanging()
    model(stopping).before = before
    message = event("still there?", message_id="p1")
    turn = asyncio.create_task(stopping.handle(message, MemoryOutbox()))
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(stopping.stop(), 10)
    assert turn.cancelled()
    outbox = MemoryOutbox()
    assert (await live.handle(message, outbox)).kind == "reply"  # Telegram's redelivery
    assert len(outbox.texts()) == 1
    assert replies([await live.handle(message, MemoryOutbox())]) == 0


async def test_a_turn_held_by_a_live_process_is_never_answered_twice(
        stores: tuple[Store, Store]) -> None:
    """A rolling restart: the old session is still answering when the new one sees the
    message again, well after one lease would have lapsed (the live turn renews it)."""
    old, new = core(stores[0]), core(stores[1])
    started, go = asyncio.Event(), asyncio.Event()

    async def slow(conversation: Conversation) -> None:
        started.set()
        await go.wait()
    model(old).before = slow
    message = event("hello", message_id="p1")
    first = asyncio.create_task(old.handle(message, MemoryOutbox()))
    await asyncio.wait_for(started.wait(), 10)
    seen = []
    for _ in range(4):  # over 2.5 leases
        await asyncio.sleep(LEASE_S / 1.5)
        seen.append(await new.handle(message, MemoryOutbox()))
        assert await new.owed.sweep("discord", lambda _: True, never) == 0
    go.set()
    assert (await first).kind == "reply"
    assert replies(seen) == 0
    assert await new.owed.sweep("discord", lambda _: True, never) == 0


async def never(channel: str, message: str) -> bool:
    raise AssertionError(f"resent {message} in {channel}, which was answered or held")


async def test_a_sweep_answers_what_a_killed_process_owed_in_the_communities_it_serves(
        stores: tuple[Store, Store]) -> None:
    """Discord does not redeliver: the process serving the shard fetches the message again."""
    dead, live = core(stores[0]), core(stores[1])
    message = event("anyone?", message_id="p1")
    await killed_mid_generation(dead, message)
    assert await live.owed.sweep("discord", lambda _: True, never) == 0  # not lapsed yet
    await asyncio.sleep(LEASE_S + 0.2)
    assert await live.owed.sweep("discord", lambda community: community != "g1", never) == 0
    outcomes: list[Outcome] = []

    async def resend(channel: str, message_id: str) -> bool:
        assert (channel, message_id) == ("c1", "p1")
        outcomes.append(await live.handle(message, MemoryOutbox()))
        return True

    other = core(stores[1])  # a third process sweeps at the same moment
    other_outcomes: list[Outcome] = []

    async def other_resend(channel: str, message_id: str) -> bool:
        other_outcomes.append(await other.handle(message, MemoryOutbox()))
        return True

    await asyncio.gather(live.owed.sweep("discord", lambda _: True, resend),
                         other.owed.sweep("discord", lambda _: True, other_resend))
    assert replies(outcomes + other_outcomes) == 1
    assert await live.owed.sweep("discord", lambda _: True, never) == 0


async def test_a_message_deleted_before_the_sweep_is_not_looked_for_again(
        stores: tuple[Store, Store]) -> None:
    dead, live = core(stores[0]), core(stores[1])
    await killed_mid_generation(dead, event("oops", message_id="p1"))
    await asyncio.sleep(LEASE_S + 0.2)

    async def gone(channel: str, message_id: str) -> bool:
        return False

    assert await live.owed.sweep("discord", lambda _: True, gone) == 1
    assert await live.owed.sweep("discord", lambda _: True, never) == 0


async def test_each_message_the_dead_process_owed_gets_its_own_reply_in_order(
        stores: tuple[Store, Store]) -> None:
    """Two users spoke at once and the process died with both owed: each is answered."""
    dead, live = core(stores[0]), core(stores[1])
    first, second = event("one", message_id="p1"), event("two", message_id="p2")
    await killed_mid_generation(dead, first)
    await killed_mid_generation(dead, second)
    await asyncio.sleep(LEASE_S + 0.2)
    answered: list[tuple[str, str]] = []

    async def resend(channel: str, message_id: str) -> bool:
        message = first if message_id == "p1" else second
        outcome = await live.handle(message, MemoryOutbox())
        answered.append((message_id, outcome.kind))
        return True

    assert await live.owed.sweep("discord", lambda _: True, resend) == 2
    assert answered == [("p1", "reply"), ("p2", "reply")]  # oldest first, one reply each
    assert replies([await live.handle(m, MemoryOutbox()) for m in (first, second)]) == 0
    await asyncio.sleep(LEASE_S + 0.2)
    assert await live.owed.sweep("discord", lambda _: True, never) == 0


class StuckOutbox(MemoryOutbox):
    """A platform whose sends hang once the reply is written (the process dies there)."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = asyncio.Event()

    async def send(self, text: str, *, reply_to: str | None, controls: bool) -> str:
        self.stuck.set()
        await asyncio.Event().wait()
        raise AssertionError("never")


async def test_a_reply_stored_but_not_shown_when_its_process_died_is_shown_not_lost(
        stores: tuple[Store, Store]) -> None:
    """Killed between storing the reply and showing it: the message stays owed, and the
    process that takes it over shows that reply (it does not write another one)."""
    dead, live = core(stores[0]), core(stores[1])
    message = event("are you there?", message_id="p1")
    stuck = StuckOutbox()
    task = asyncio.create_task(dead.handle(message, stuck))
    await asyncio.wait_for(stuck.stuck.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    written = await dead.service.history("discord", "c1")
    assert [m.role for m in written] == ["user", "assistant"]  # stored, never shown
    await asyncio.sleep(LEASE_S + 0.2)
    shown: list[str] = []

    async def resend(channel: str, message_id: str) -> bool:
        outbox = MemoryOutbox()
        outcome = await live.handle(message, outbox)
        assert outcome.kind == "reply"
        shown.extend(outbox.texts())
        return True

    assert await live.owed.sweep("discord", lambda _: True, resend) == 1
    assert shown == [written[-1].text]  # the stored reply, shown once
    assert model(live).calls == []  # not written again
    history = await live.service.history("discord", "c1")
    assert [m.role for m in history] == ["user", "assistant"]
    assert replies([await live.handle(message, MemoryOutbox())]) == 0
    await asyncio.sleep(LEASE_S + 0.2)
    assert await live.owed.sweep("discord", lambda _: True, never) == 0


async def test_a_reply_shown_just_before_its_process_died_is_not_shown_again(
        stores: tuple[Store, Store]) -> None:
    dead, live = core(stores[0]), core(stores[1])
    message = event("hello", message_id="p1")
    # the reply shows, and the process dies before it settles the message: nothing renews it
    dead.owed.shown = dead.owed.release  # type: ignore[method-assign]
    outbox = MemoryOutbox()
    assert (await dead.handle(message, outbox)).kind == "reply"
    sent, shown = [c for c in outbox.calls if c[0] == "send"], outbox.texts()
    assert len(sent) == 1 and len(shown) == 1  # the reply shows (its delivery is recorded)
    await asyncio.sleep(LEASE_S + 0.2)
    await live.handle(message, outbox)  # the same platform: at most its own preview edited
    assert [c for c in outbox.calls if c[0] == "send"] == sent
    assert outbox.texts() == shown
    await asyncio.sleep(LEASE_S + 0.2)
    assert await live.owed.sweep("discord", lambda _: True, never) == 0


async def test_a_new_message_answers_what_the_dead_process_owed(
        stores: tuple[Store, Store]) -> None:
    dead, live = core(stores[0]), core(stores[1])
    await killed_mid_generation(dead, event("one", message_id="p1"))
    await asyncio.sleep(LEASE_S + 0.2)
    reply = await live.handle(event("still there?", message_id="p2"), MemoryOutbox())
    assert reply.kind == "reply"
    await asyncio.sleep(LEASE_S + 0.2)  # nothing left owed, even once every lease is over
    assert await live.owed.sweep("discord", lambda _: True, never) == 0


async def test_a_turn_that_ends_with_an_apology_owes_nothing(
        stores: tuple[Store, Store]) -> None:
    c = core(stores[0], fail_after=0)
    outbox = MemoryOutbox()
    outcome = await c.handle(event("hi", message_id="p1"), outbox)
    assert outcome.kind != "reply" and outbox.calls  # the user was told
    await asyncio.sleep(LEASE_S + 0.2)
    assert await core(stores[1]).owed.sweep("discord", lambda _: True, never) == 0


class HalfWay(StubModel):
    """Writes two words and then waits, as a model does when its process is killed."""

    def __init__(self, model_id: str) -> None:
        super().__init__(model_id)
        self.wrote = asyncio.Event()

    async def stream(self, conversation: Conversation, params: SamplingParams, *,
                     channel: str | None = None) -> AsyncIterator[str | Generation]:
        yield "Once"
        yield " upon"
        self.wrote.set()
        await asyncio.Event().wait()


async def test_the_dead_turns_preview_becomes_the_reply_not_a_second_message(
        stores: tuple[Store, Store]) -> None:
    platform = MemoryOutbox()  # what the channel shows, whichever process writes to it
    half = HalfWay("a")
    dead = core_for(stores[0], [half])
    dead.owed.lease_s = LEASE_S
    message = event("tell me a story", message_id="p1")
    task = asyncio.create_task(dead.handle(message, platform))
    await asyncio.wait_for(half.wrote.wait(), 10)
    for _ in range(100):  # the preview is showing (sent 50 ms after the first words)
        if platform.shown:
            break
        await asyncio.sleep(0.02)
    [preview] = platform.shown
    assert platform.shown[preview].startswith("Once upon")
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(LEASE_S + 0.2)
    live = core(stores[1])
    answered = await live.handle(message, platform)
    assert answered.kind == "reply"
    assert list(platform.shown) == [preview]  # written into the half-written message
    assert platform.shown[preview] == answered.text
    assert await live.service.replies.deliveries(answered.message_id or 0) == [preview]


async def test_a_fresh_session_reads_each_channel_back_from_its_oldest_owed_message(
        stores: tuple[Store, Store]) -> None:
    """After a crash the platform replays nothing: a channel is read back from the message
    whose turn died (included), else after its newest stored message; other platforms and
    communities this process does not serve are left out."""
    dead, live = core(stores[0]), core(stores[1])
    assert await live.behind("discord", lambda _: True) == []
    await live.handle(event("one", message_id="101"), MemoryOutbox())
    await live.handle(event("two", message_id="102"), MemoryOutbox())
    await live.handle(event("quiet", channel="c2", message_id="201"), MemoryOutbox())
    await killed_mid_generation(dead, event("three", channel="c2", message_id="202"))
    elsewhere = dataclasses.replace(event("elsewhere", channel="c3", message_id="301"),
                                    community_id="g2")
    await live.handle(elsewhere, MemoryOutbox())
    await live.owed.flush()  # answered messages settle within 0.1 s of showing
    back = {(b.channel_id, b.message_id, b.including)
            for b in await live.behind("discord", lambda community: community == "g1")}
    assert back == {("c1", "102", False), ("c2", "202", True)}
    assert await live.behind("telegram", lambda _: True) == []
    # one community back from an outage: its channels alone
    [only] = await live.behind("discord", lambda _: True, "g2")
    assert (only.community_id, only.channel_id, only.message_id) == ("g2", "c3", "301")


async def test_a_preview_found_on_the_platform_becomes_the_reply_when_the_turn_died_unnoted(
        stores: tuple[Store, Store]) -> None:
    """Killed between sending its preview and noting it: a read-back finds the preview on
    the platform (the bot's unfinished reply to the message) and the takeover writes into
    it."""
    platform = MemoryOutbox()
    dead = core(stores[0])
    message = event("tell me a story", message_id="p1")
    await killed_mid_generation(dead, message)  # nothing noted: no preview had shown
    preview = await platform.send("Once upon …", reply_to="p1", controls=False)
    live = core(stores[1])
    await live.found_preview("discord", "c1", "p9", "elsewhere")  # not stored: no effect
    await live.found_preview("discord", "c1", "p1", preview)
    await asyncio.sleep(LEASE_S + 0.2)
    answered = await live.handle(message, platform)
    assert answered.kind == "reply"
    assert list(platform.shown) == [preview] and platform.shown[preview] == answered.text
    await live.found_preview("discord", "c1", "p1", "late")  # answered: nothing owed
    again = await live.handle(message, platform)
    assert again.kind == "ignored" and list(platform.shown) == [preview]


async def test_a_preview_shown_as_the_database_went_away_becomes_the_reply_once_it_is_back(
        stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch) -> None:
    """The database goes away right after a preview shows: noting it, storing the reply and
    settling the message all fail, so the user reads one apology in that message. The
    redelivery once the database is back writes the reply into the same message: one
    message, never a second one beside it."""
    platform = MemoryOutbox()
    c = core(stores[0], delay=0.05)  # words 50 ms apart: the first one shows on its own

    async def away(*_: object, **__: object) -> None:
        raise ConnectionRefusedError("the database is away")

    monkeypatch.setattr(c.owed.replies, "shown", away)
    monkeypatch.setattr(c.owed.replies, "settle", away)
    monkeypatch.setattr(c.service, "add_reply", away)
    message = event("tell me a story", message_id="p1")
    failed = await c.handle(message, platform)
    assert failed.kind == "error"
    [shown] = platform.shown
    [first, *later] = [call for call, _, _ in platform.calls]
    assert first == "send" and set(later) == {"edit"}  # the preview, edited to the apology
    assert platform.shown[shown] == failed.text
    monkeypatch.undo()  # the database is back
    await asyncio.sleep(LEASE_S + 0.2)  # the failed turn's lease lapses
    answered = await c.handle(message, platform)  # the platform delivers it again
    assert answered.kind == "reply"
    assert list(platform.shown) == [shown] and platform.shown[shown] == answered.text
    assert [call for call, _, _ in platform.calls].count("send") == 1
