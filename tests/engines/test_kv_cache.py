"""Per-channel KV-cache reuse: the LRU budget, and real llama.cpp channels taking turns."""

from __future__ import annotations

import ctypes
from collections.abc import AsyncIterator
from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from engines import ChatMessage, Conversation, SamplingParams
from engines.kvcache import ChannelStates, SavedState, common_prefix
from engines.llamacpp import LlamaCppModel
from engines.registry import DEFAULT_MODELS, build_model


def state(n_bytes: int, tokens: int = 2) -> SavedState:
    return SavedState(np.arange(tokens, dtype=np.intc), (ctypes.c_uint8 * n_bytes)())


def test_states_stay_within_the_byte_budget_least_recently_used_first() -> None:
    states = ChannelStates(budget_bytes=300)
    for name in "abc":
        states.put(name, state(92))  # 92 + 8 bytes of tokens = 100 each
    assert len(states) == 3 and states.nbytes == 300
    assert states.get("a") is not None  # a is now the most recently used
    states.put("d", state(92))
    assert "b" not in states and {"a", "c", "d"} <= {n for n in "abcd" if n in states}
    states.put("huge", state(1000))  # bigger than the whole budget: not kept, nothing evicted
    assert "huge" not in states and len(states) == 3
    states.put("a", state(192))  # replacing a state frees the old one first
    assert states.nbytes <= 300 and "a" in states


def test_common_prefix() -> None:
    a = np.array([1, 2, 3, 4], dtype=np.intc)
    assert common_prefix(a, [1, 2, 9]) == 2
    assert common_prefix(a, [1, 2, 3, 4, 5]) == 4
    assert common_prefix(a, []) == 0


def history(topic: str, turns: int) -> list[ChatMessage]:
    words = f"{topic} boats rivers weather lanterns gardens markets violins".split()
    return [ChatMessage("user" if i % 2 == 0 else "assistant",
                        f"Turn {i} on {topic}: " + " ".join(words[(i + j) % len(words)]
                                                             for j in range(24)),
                        name="Sam" if i % 2 == 0 else None)
            for i in range(turns)]


def conv(turns: list[ChatMessage]) -> Conversation:
    return Conversation("You are Blendbot, a friendly companion.", turns, bot_name="Blendbot")


def follow(turns: list[ChatMessage], reply: str, text: str) -> list[ChatMessage]:
    return [*turns, ChatMessage("assistant", reply), ChatMessage("user", text, name="Sam")]


@pytest.fixture
async def fresh(model_dir: Path) -> AsyncIterator[tuple[LlamaCppModel, LlamaCppModel]]:
    """SmolLM2 twice: with the per-channel KV cache, and without it."""
    spec = next(m for m in DEFAULT_MODELS if m.id == "smollm2-135m")
    models = [build_model(s, model_dir) for s in (spec, spec.model_copy(update={"kv_cache_mb": 0}))]
    cached, plain = models
    assert isinstance(cached, LlamaCppModel) and isinstance(plain, LlamaCppModel)
    yield cached, plain
    for m in models:
        await m.close()


async def prompt_tokens_evaluated(model: LlamaCppModel, turns: list[ChatMessage], channel: str,
                                  params: SamplingParams) -> tuple[int, str]:
    """How many prompt tokens llama.cpp evaluated for this reply, and the reply."""
    await model.load()
    llama_cpp.llama_perf_context_reset(model.llama.ctx)
    gen = await model.generate(conv(turns), params, channel=channel)
    return llama_cpp.llama_perf_context(model.llama.ctx).n_p_eval, gen.text


@pytest.mark.model
async def test_a_channel_keeps_its_prefix_while_another_channel_speaks(
    fresh: tuple[LlamaCppModel, LlamaCppModel]
) -> None:
    cached, plain = fresh
    params = SamplingParams(max_tokens=6, temperature=0.0, seed=1)
    a, b = history("sailing", 15), history("cooking", 15)
    results = {}
    for name, model in (("cached", cached), ("plain", plain)):
        cold, reply = await prompt_tokens_evaluated(model, a, "a", params)
        a2 = follow(a, reply, "And then?")
        _, reply2 = await prompt_tokens_evaluated(model, a2, "a", params)
        await prompt_tokens_evaluated(model, b, "b", params)  # another channel speaks
        a3 = follow(a2, reply2, "What happened next?")
        interleaved, text = await prompt_tokens_evaluated(model, a3, "a", params)
        results[name] = (cold, interleaved, text)
    (cold, interleaved, text), (plain_cold, plain_interleaved, plain_text) = results.values()
    assert cold > 400 and plain_cold > 400
    assert interleaved < 60  # only the new turns: the prefix came back from RAM
    assert plain_interleaved > cold  # without the cache the whole history is read again
    assert text == plain_text  # the restored state gives the same reply
    assert cached.channels.states.nbytes > 0 and len(cached.channels.states) == 2


@pytest.mark.model
async def test_a_zero_budget_keeps_nothing(fresh: tuple[LlamaCppModel, LlamaCppModel]) -> None:
    _, plain = fresh
    params = SamplingParams(max_tokens=2, temperature=0.0, seed=1)
    await plain.generate(conv(history("x", 3)), params, channel="x")
    await plain.generate(conv(history("y", 3)), params, channel="y")
    assert len(plain.channels.states) == 0


@pytest.mark.model
async def test_streams_and_channel_less_calls_share_the_cache_safely(
    fresh: tuple[LlamaCppModel, LlamaCppModel]
) -> None:
    cached, _ = fresh
    params = SamplingParams(max_tokens=4, temperature=0.0, seed=2)
    a = history("gardens", 9)
    items = [i async for i in cached.stream(conv(a), params, channel="a")]
    reply = items[-1].text  # type: ignore[union-attr]
    await cached.generate(conv(history("other", 5)), params)  # no channel: parks "a"
    n, _ = await prompt_tokens_evaluated(cached, follow(a, reply, "More?"), "a", params)
    assert n < 40
