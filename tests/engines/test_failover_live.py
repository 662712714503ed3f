"""A blend of a local GGUF model and a remote server: the server dies, replies keep coming."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engines import BlendedEngine, BlendSettings, ChatMessage, Conversation, ReplyRequest
from engines.base import SamplingParams
from engines.health import BreakerConfig
from engines.llamacpp import LlamaCppModel
from engines.openai import OpenAIModel
from engines.registry import ModelSpec, build_model
from tests.engines.conftest import LlamaServer

pytestmark = [pytest.mark.server, pytest.mark.model]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_dead_server_fails_over_to_the_local_model_and_comes_back(
    server_factory: Callable[..., LlamaServer], smollm2: LlamaCppModel, tmp_path: Path
) -> None:
    server = server_factory()  # our own: this test kills it
    spec = ModelSpec(id="remote", backend="openai", base_url=server.url, model="smollm2",
                     max_retries=0)
    remote = build_model(spec, tmp_path)
    assert isinstance(remote, OpenAIModel)
    clock = Clock()
    engine = BlendedEngine([smollm2, remote], seed=11, clock=clock,
                           breaker=BreakerConfig(failures=2, bench_s=60))
    history: list[ChatMessage] = []

    async def say(text: str) -> tuple[str, tuple[str, ...]]:
        history.append(ChatMessage("user", text, name="Alice"))
        conv = Conversation("You are Blendbot.", list(history), bot_name="Blendbot")
        gen = await engine.reply(ReplyRequest("live", conv, BlendSettings("uniform"),
                                              SamplingParams(max_tokens=6)))
        history.append(ChatMessage("assistant", gen.text))
        return gen.model_id, gen.failed_over_from

    try:
        before = Counter([(await say(f"Hello {i}"))[0] for i in range(8)])
        assert before["remote"] > 0 and before["smollm2-135m"] > 0  # both answer

        server.stop()  # mid-conversation
        after = [await say(f"Are you there {i}?") for i in range(8)]
        assert all(model_id == "smollm2-135m" for model_id, _ in after)
        assert ("smollm2-135m", ("remote",)) in after  # some replies failed over
        health = {h.model_id: h for h in engine.health()}
        assert health["remote"].state == "benched"

        server.start()  # back on the same port; after the bench time a probe lets it in
        clock.now += 61
        await say("Anyone new?")
        await engine.wait_probes()
        assert {h.model_id: h.state for h in engine.health()}["remote"] == "healthy"
        back = Counter([(await say(f"And now {i}?"))[0] for i in range(8)])
        assert back["remote"] > 0
    finally:
        await remote.close()
