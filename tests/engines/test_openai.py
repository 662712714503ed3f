"""The `openai` backend against a real OpenAI-compatible server (llama_cpp.server on loopback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engines import ChatMessage, Conversation, Generation, ModelError, SamplingParams
from engines.llamacpp import LlamaCppModel
from engines.openai import OpenAIModel
from engines.registry import ModelSpec, build_model
from tests.engines.conftest import KEY_ENV, LlamaServer, free_port

pytestmark = pytest.mark.server

CONV = Conversation(
    "You are Blendbot, a friendly assistant.",
    [ChatMessage("user", "What colour is the sky on a clear day?", name="Alice")],
    bot_name="Blendbot",
)
PARAMS = SamplingParams(max_tokens=12, temperature=0.0, seed=1)


def remote(tmp_path: Path, url: str | list[str], **kw: object) -> OpenAIModel:
    urls = {"base_urls": url} if isinstance(url, list) else {"base_url": url}
    spec = ModelSpec.model_validate({"id": "remote-smollm2", "backend": "openai",
                                     "model": "smollm2", "api_key_env": KEY_ENV, **urls, **kw})
    model = build_model(spec, tmp_path)
    assert isinstance(model, OpenAIModel)
    return model


@pytest.fixture
async def model(llama_server: LlamaServer, api_key: str, tmp_path: Path
                ) -> AsyncIterator[OpenAIModel]:
    m = remote(tmp_path, llama_server.url)
    yield m
    await m.close()


async def test_chat_reply_from_a_real_server(model: OpenAIModel) -> None:
    gen = await model.generate(CONV, PARAMS)
    assert gen.model_id == "remote-smollm2" and gen.text.strip()
    assert 0 < gen.completion_tokens <= 12 and gen.prompt_tokens > 10  # the server's usage


async def test_stream_yields_pieces_then_the_generation(model: OpenAIModel) -> None:
    items = [i async for i in model.stream(CONV, SamplingParams(max_tokens=10, seed=3))]
    final = items[-1]
    assert isinstance(final, Generation)
    pieces = [i for i in items[:-1] if isinstance(i, str)]
    assert len(pieces) >= 2 and final.text == "".join(pieces).strip()


async def test_base_models_use_completions_with_a_transcript(
    llama_server: LlamaServer, api_key: str, tmp_path: Path
) -> None:
    model = remote(tmp_path, llama_server.url, prompt_format="transcript")
    try:
        gen = await model.generate(CONV, SamplingParams(max_tokens=24, temperature=0.9, seed=2))
    finally:
        await model.close()
    assert "\nAlice:" not in gen.text and not gen.text.startswith("Blendbot:")
    assert llama_server.log is not None
    assert "POST /v1/completions" in llama_server.log.read_text()


async def test_tokens_are_counted_by_the_servers_tokenizer(
    model: OpenAIModel, smollm2: LlamaCppModel
) -> None:
    text = "Alice: How many tokens does this sentence take, in SmolLM2's own vocabulary?"
    count = await model.count_tokens(text)
    assert model.tokenizer.dialect == "llama-cpp-python"
    local = smollm2.llama.tokenize(text.encode(), add_bos=True, special=True)
    assert count == len(local)


async def test_a_long_history_is_fitted_leaving_room_for_the_reply(model: OpenAIModel) -> None:
    history = [ChatMessage("user" if i % 2 == 0 else "assistant",
                           f"Message {i}: " + "the quick brown fox jumps over the lazy dog " * 6,
                           name="Bob" if i % 2 == 0 else None) for i in range(81)]
    conv = Conversation("You are Blendbot.", history, bot_name="Blendbot")
    gen = await model.generate(conv, SamplingParams(max_tokens=64, temperature=0.0, seed=1))
    # the server accepted it (an over-long prompt is a 400), and most of the window was used
    assert 1000 < gen.prompt_tokens <= 2048 - 64
    assert gen.completion_tokens <= 64


async def test_a_wrong_key_is_a_clear_error_and_never_logged(
    llama_server: LlamaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "wrong-secret-77c1e0"
    monkeypatch.setenv(KEY_ENV, secret)
    model = remote(tmp_path, llama_server.url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ModelError, match=f"401.*{KEY_ENV}") as err:
        await model.generate(CONV, PARAMS)
    await model.close()
    assert secret not in str(err.value) and secret not in caplog.text


async def test_a_missing_key_variable_is_named(
    llama_server: LlamaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    model = remote(tmp_path, llama_server.url)
    with pytest.raises(ModelError, match=f"{KEY_ENV} is not set"):
        await model.generate(CONV, PARAMS)
    await model.close()


async def test_an_unreachable_endpoint_fails_with_a_model_error(api_key: str, tmp_path: Path
                                                                ) -> None:
    model = remote(tmp_path, f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(ModelError, match=r"127\.0\.0\.1"):
        await asyncio.wait_for(model.generate(CONV, PARAMS), timeout=60)
    await model.close()


async def test_requests_skip_a_dead_base_url(
    llama_server: LlamaServer, api_key: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    model = remote(tmp_path, [dead, llama_server.url])
    try:
        for seed in range(4):
            gen = await model.generate(CONV, SamplingParams(max_tokens=4, seed=seed))
            assert gen.text is not None
    finally:
        await model.close()
    down, up = model.pool.endpoints
    assert not model.pool.is_up(down) and down.last_error
    assert model.pool.is_up(up)
    assert model.max_parallel == 2 * 64  # two base URLs, 64 streams each (the default)
