"""Memory beyond the context window: rolling summaries of the turns that no longer fit the
smallest member, pinned facts in every prompt, both rebuilt or kept as the channel changes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest

from bot import cli_memory
from bot.adapters.console import ConsoleOptions, event_of
from bot.conversation import Conversations
from bot.conversation.memory import SUMMARISE_AFTER, SUMMARY_SYSTEM
from bot.storage import Store
from engines import BlendedEngine, Conversation, Generation, ModelError, SamplingParams
from tests.memory_outbox import MemoryOutbox, core_for
from tests.stubs import StubModel

FACT = "Alice's cat is called Miso"


class Small(StubModel):
    """A member with a 1,024-token context (a token is a word here); it summarises by
    naming the first and last lines it was given. `summary_error`: summaries fail."""

    def __init__(self, model_id: str, summary_error: bool = False, delay: float = 0.0
                 ) -> None:
        super().__init__(model_id)
        self.summary_error, self.summary_delay = summary_error, delay
        self.summaries: list[Conversation] = []

    @property
    def context_window(self) -> int:
        return 1024

    async def stream(self, conversation: Conversation, params: SamplingParams, *,
                     channel: str | None = None) -> AsyncIterator[str | Generation]:
        if conversation.system != SUMMARY_SYSTEM:
            async for item in super().stream(conversation, params, channel=channel):
                yield item
            return
        self.summaries.append(conversation)
        await asyncio.sleep(self.summary_delay)
        if self.summary_error:
            raise ModelError("summary failed")
        given = conversation.history[-1].content
        lines = [line.split()[2] for line in given.splitlines() if line.startswith("Alice:")]
        earlier = re.search(r"Summary so far: Alice said (m\d+)", given)
        text = f"Alice said {earlier.group(1) if earlier else lines[0]} to {lines[-1]}."
        yield text
        yield Generation(self.id, text, 10, 5, 0.01)


def said(n: int) -> str:
    return f"message m{n:03d} " + " ".join(f"w{n}x{k}" for k in range(28))


OPTIONS = ConsoleOptions(channel="long", user_name="Alice")


async def chat(core: Conversations, n: int) -> None:
    reply = await core.handle(event_of(OPTIONS, said(n)), MemoryOutbox())
    assert reply.kind == "reply"


async def test_a_fact_pinned_at_turn_3_is_in_the_prompt_at_turn_120(
        store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    models = [Small("a"), Small("b")]
    core = core_for(store, BlendedEngine(models, seed=1))  # history_limit 200, max 256 tokens
    for n in range(1, 121):
        if n == 3:
            result = await core.commands.memory.remember(event_of(OPTIONS, ""), FACT)
            assert result.ok
        await chat(core, n)
        await core.service.memory.idle()
    prompt = max(((m, m.calls[-1]) for m in models if m.calls),
                 key=lambda mc: said(120) in mc[1].history[-1].content)[1]
    assert prompt.history[-1].content == said(120)
    assert prompt.facts == (FACT,) and FACT in prompt.system_text()
    assert said(1) not in "\n".join(m.content for m in prompt.history)  # out of the window
    assert prompt.summary.startswith("Alice said m001 to ")

    assert await cli_memory.show(store, "long", True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["facts"] == [{"n": 1, "scope": "channel", "user": None, "text": FACT}]
    summary = shown["summary"]
    history = await core.service.store.history((await core.service.channel(
        event_of(OPTIONS, ""))).id)
    in_prompt = {m.content for m in prompt.history}
    dropped = [m for m in history if m.text not in in_prompt and m.id < history[-1].id]
    assert summary["first_message_id"] == history[0].id  # from the very first turn ...
    uncovered = [m for m in dropped if m.id > summary["last_message_id"]]
    assert len(uncovered) < 2 * SUMMARISE_AFTER  # ... to (nearly) the window
    assert summary["turns"] == len([m for m in history if m.id <= summary["last_message_id"]])
    assert summary["text"].startswith("Alice said m001 to ")


async def test_a_summary_is_written_after_the_reply_not_before(store: Store) -> None:
    slow = Small("a", delay=0.5)
    core = core_for(store, BlendedEngine([slow], seed=1))
    loop = asyncio.get_running_loop()
    for n in range(1, 60):
        started = loop.time()
        await chat(core, n)
        assert loop.time() - started < 0.4  # a summary being written never holds a reply
        if slow.summaries:
            break
    assert slow.summaries, "no summary was ever started"
    await core.service.memory.idle()
    assert await core.service.memory.memories.summary(1) is not None


async def test_a_failed_summary_is_logged_and_the_turn_answered(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    broken = Small("a", summary_error=True)
    core = core_for(store, BlendedEngine([broken], seed=1))
    for n in range(1, 60):
        await chat(core, n)
        await core.service.memory.idle()
    assert broken.summaries and "could not summarise" in caplog.text
    assert broken.calls[-1].summary == ""


async def test_reset_rebuilds_the_summary_from_the_new_conversation(store: Store) -> None:
    core = core_for(store, BlendedEngine([Small("a")], seed=1))
    for n in range(1, 60):
        await chat(core, n)
        await core.service.memory.idle()
    channel = await core.service.channel(event_of(OPTIONS, ""))
    before = await core.service.memory.memories.summary(channel.id)
    assert before is not None
    await core.commands.reset(event_of(OPTIONS, ""))
    assert await core.service.memory.memories.summary(channel.id) is None
    for n in range(100, 160):
        await chat(core, n)
        await core.service.memory.idle()
    after = await core.service.memory.memories.summary(channel.id)
    assert after is not None and after.first_message_id > before.last_message_id
    assert after.text.startswith("Alice said m100")


async def test_facts_beyond_the_budget_drop_the_oldest_with_a_notice(store: Store) -> None:
    core = core_for(store, BlendedEngine([Small("a")], seed=1), facts_budget=40)
    ctx = event_of(OPTIONS, "")
    for n in range(4):
        result = await core.commands.memory.remember(ctx, f"fact {n} " + "word " * 10)
    assert "forgot the oldest" in result.text and '"fact 0' in result.text
    listed = (await core.commands.memory.memories(ctx)).text
    assert "fact 0" not in listed and "fact 3" in listed
    gone = await core.commands.memory.forget_memory(ctx, "1")
    assert gone.ok and "fact 0" not in gone.text
    assert (await core.commands.memory.forget_memory(ctx, "9")).ok is False
