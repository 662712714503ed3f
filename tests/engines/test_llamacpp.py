"""Real llama.cpp generation on the two bundled models (small max_tokens)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engines import ChatMessage, Conversation, Generation, ModelError, SamplingParams
from engines.llamacpp import LlamaCppModel, LlamaCppOptions
from engines.sources import ModelSource

pytestmark = pytest.mark.model

CONV = Conversation(
    "You are Blendbot, a friendly assistant.",
    [ChatMessage("user", "What colour is the sky on a clear day?", name="Alice")],
    bot_name="Blendbot",
)
PARAMS = SamplingParams(max_tokens=12, temperature=0.0, seed=1)


async def test_smollm2_answers_with_its_chat_template(smollm2: LlamaCppModel) -> None:
    gen = await smollm2.generate(CONV, PARAMS)
    assert gen.model_id == "smollm2-135m"
    assert gen.text.strip()
    assert 0 < gen.completion_tokens <= 12
    # the prompt is the GGUF's ChatML template, not a transcript
    assert gen.prompt_tokens == len(smollm2.llama.tokenize(
        b"<|im_start|>system\nYou are Blendbot, a friendly assistant.<|im_end|>\n"
        b"<|im_start|>user\nAlice: What colour is the sky on a clear day?<|im_end|>\n"
        b"<|im_start|>assistant\n", add_bos=False, special=True))


async def test_gemma_base_model_answers_in_transcript_format(gemma: LlamaCppModel) -> None:
    gen = await gemma.generate(CONV, PARAMS)
    assert gen.model_id == "gemma3-270m"
    assert 0 < gen.completion_tokens <= 12
    assert "\nAlice:" not in gen.text and not gen.text.startswith("Blendbot:")


async def test_same_seed_same_reply(smollm2: LlamaCppModel) -> None:
    params = SamplingParams(max_tokens=10, temperature=0.9, seed=42)
    a = await smollm2.generate(CONV, params)
    b = await smollm2.generate(CONV, params)
    assert a.text == b.text


async def test_stream_yields_tokens_then_totals(smollm2: LlamaCppModel) -> None:
    items = [i async for i in smollm2.stream(CONV, SamplingParams(max_tokens=8, seed=3))]
    final = items[-1]
    assert isinstance(final, Generation)
    pieces = [i for i in items[:-1] if isinstance(i, str)]
    assert len(pieces) >= 2 and final.completion_tokens == len(pieces)
    assert final.text == "".join(pieces).strip()


async def test_event_loop_keeps_ticking_while_a_model_generates(smollm2: LlamaCppModel) -> None:
    await smollm2.load()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t - 0.01)

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await smollm2.generate(CONV, SamplingParams(max_tokens=32, seed=5))
    took = time.perf_counter() - started
    done.set()
    await tick
    assert took > 0.2  # a real generation happened while we measured
    assert len(lags) > took / 0.05  # the loop ran throughout, not just before and after
    assert max(lags) < 0.25, f"event loop blocked for {max(lags):.3f}s"


async def test_token_counter_is_the_models_own(smollm2: LlamaCppModel,
                                               gemma: LlamaCppModel) -> None:
    text = "Supercalifragilisticexpialidocious antidisestablishmentarianism 🌊🐙"
    a, b = await smollm2.count_tokens(text), await gemma.count_tokens(text)
    assert a > 0 and b > 0 and a != b


async def test_missing_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    model = LlamaCppModel("m", ModelSource(str(tmp_path / "nope.gguf"), tmp_path),
                          LlamaCppOptions(), SamplingParams())
    with pytest.raises(ModelError, match=r"model file not found: .*nope\.gguf.*Fix"):
        await model.generate(CONV, PARAMS)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ggml" + b"\0" * 64, "is not a GGUF file"),
        (b"GGUF" + b"\x03\0\0\0" + b"\xff" * 40, "could not load"),
    ],
)
async def test_corrupt_file_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    model = LlamaCppModel("m", ModelSource(str(path), tmp_path), LlamaCppOptions(),
                          SamplingParams())
    with pytest.raises(ModelError, match=message) as err:
        await model.generate(CONV, PARAMS)
    assert str(path) in str(err.value)


def test_models_load_without_amx_buffers_on_an_amx_build() -> None:
    """llama.cpp's AMX path segfaults on some CPUs (ggml-org/llama.cpp#20824)."""
    import llama_cpp.llama_cpp as native

    from engines.llama_amx import avoid_amx_buffers, build_has_amx

    avoid_amx_buffers()
    avoid_amx_buffers()  # idempotent
    assert native.llama_model_default_params().use_extra_bufts is (not build_has_amx())
