"""The 120-turn conversation on the real SmolLM2 with a 1,024-token context: the fact
pinned at turn 3 is in the prompt the model received at turn 120, and the summary (written
by the model itself) covers the turns that no longer fit."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import cli_memory
from bot.adapters.console import ConsoleOptions, event_of
from bot.conversation.memory import SUMMARY_SYSTEM
from bot.storage import Store
from engines import BlendedEngine, ChatModel, Conversation, Generation, SamplingParams
from engines.registry import DEFAULT_MODELS, build_model
from tests.memory_outbox import MemoryOutbox, core_for

FACT = "The tea club meets on Thursdays in room 12"
OPTIONS = ConsoleOptions(channel="long", user_name="Alice")


class Recorded(ChatModel):
    """A real model, keeping every conversation it was asked to answer."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner, self.id = inner, inner.id
        self.prompts: list[Conversation] = []

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    @property
    def is_local(self) -> bool:
        return self.inner.is_local

    async def count_tokens(self, text: str) -> int:
        return await self.inner.count_tokens(text)

    async def generate(self, conversation: Conversation, params: SamplingParams, *,
                       channel: str | None = None) -> Generation:
        self.prompts.append(conversation)
        return await self.inner.generate(conversation, params, channel=channel)

    def stream(self, conversation: Conversation, params: SamplingParams, *,
               channel: str | None = None) -> AsyncIterator[str | Generation]:
        self.prompts.append(conversation)
        return self.inner.stream(conversation, params, channel=channel)

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.model
@pytest.mark.timeout(3000)
@pytest.mark.skipif(not os.environ.get("BLENDBOT_LONG_TESTS"),
                    reason="15 minutes on 2 cores: set BLENDBOT_LONG_TESTS=1 (the stub "
                           "120-turn test in test_memory.py runs always)")
async def test_120_turns_on_smollm2_with_1024_tokens_of_context(
        store: Store, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = next(m for m in DEFAULT_MODELS if m.id == "smollm2-135m")
    model = Recorded(build_model(spec.model_copy(update={"n_ctx": 1024}), model_dir))
    core = core_for(store, BlendedEngine([model], seed=1), default_mode="single",
                    sampling=SamplingParams(max_tokens=12))
    started = time.monotonic()
    try:
        for n in range(1, 121):
            if n == 3:
                assert (await core.commands.memory.remember(event_of(OPTIONS, ""), FACT)).ok
            text = f"Turn {n}: tell me one thing about tea number {n}, please."
            reply = await core.handle(event_of(OPTIONS, text), MemoryOutbox())
            assert reply.kind == "reply", reply
        await core.service.memory.idle()
    finally:
        print(f"\n120 turns on smollm2-135m (n_ctx 1024): {time.monotonic() - started:.1f} s")
        await model.close()
    answers = [p for p in model.prompts if p.system != SUMMARY_SYSTEM]
    last = answers[-1]
    assert last.history[-1].content.startswith("Turn 120:")
    assert FACT in last.system_text()
    assert all("Turn 1:" not in m.content for m in last.history)  # dropped from the window
    assert last.summary  # ... and summarised by the model

    capsys.readouterr()
    assert await cli_memory.show(store, "long", True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["facts"][0]["text"] == FACT and shown["summary"]["text"]
    history = await core.service.store.history(
        (await core.service.channel(event_of(OPTIONS, ""))).id)
    in_window = {m.content for m in last.history}
    dropped = [m for m in history[:-1] if m.text not in in_window]
    summary = shown["summary"]
    assert summary["first_message_id"] == history[0].id
    assert len([m for m in dropped if m.id > summary["last_message_id"]]) < 16
