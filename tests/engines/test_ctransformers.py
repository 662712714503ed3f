"""The `ctransformers` backend loads and generates from a legacy GGML file the test writes.

The file is a tiny GPT-2 in the original `ggml` format (magic, hyper-parameters, vocabulary,
named f32 tensors) with random weights: the test checks the plumbing, not the prose.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from engines import ChatMessage, Conversation, Generation, ModelError, SamplingParams
from engines.ctransformers import CTransformersModel
from engines.registry import ModelSpec, build_model
from tests.engines.conftest import smollm2_path

pytest.importorskip("ctransformers", reason="the ggml extra is not installed")

GGML_MAGIC = 0x67676D6C
CONV = Conversation("A chat.", [ChatMessage("user", "hello there", name="Alice")],
                    bot_name="Bot")


def write_tiny_gpt2(path: Path, n_embd: int = 32, n_head: int = 2, n_layer: int = 2,
                    n_ctx: int = 256, seed: int = 0) -> Path:
    """A GPT-2 GGML file: printable ASCII (and ' a'..' z') as its vocabulary, f32 weights."""
    rng = np.random.default_rng(seed)
    vocab = [chr(c) for c in range(32, 127)] + [f" {chr(c)}" for c in range(97, 123)]
    vocab += ["\n", "<|endoftext|>"]
    with path.open("wb") as f:
        f.write(struct.pack("<I", GGML_MAGIC))
        f.write(struct.pack("<6i", len(vocab), n_ctx, n_embd, n_head, n_layer, 0))  # 0: f32
        f.write(struct.pack("<i", len(vocab)))
        for word in vocab:
            data = word.encode()
            f.write(struct.pack("<I", len(data)) + data)

        def tensor(name: str, *shape: int) -> None:
            values = (rng.standard_normal(int(np.prod(shape))) * 0.2).astype("<f4")
            f.write(struct.pack("<3i", len(shape), len(name), 0))
            f.write(struct.pack(f"<{len(shape)}i", *shape) + name.encode() + values.tobytes())

        tensor("model/ln_f/g", n_embd)
        tensor("model/ln_f/b", n_embd)
        tensor("model/wte", n_embd, len(vocab))
        tensor("model/wpe", n_embd, n_ctx)
        for i in range(n_layer):
            layer = f"model/h{i}/"
            for norm in ("ln_1", "ln_2"):
                tensor(f"{layer}{norm}/g", n_embd)
                tensor(f"{layer}{norm}/b", n_embd)
            tensor(f"{layer}attn/c_attn/w", n_embd, 3 * n_embd)
            tensor(f"{layer}attn/c_attn/b", 3 * n_embd)
            tensor(f"{layer}attn/c_proj/w", n_embd, n_embd)
            tensor(f"{layer}attn/c_proj/b", n_embd)
            tensor(f"{layer}mlp/c_fc/w", n_embd, 4 * n_embd)
            tensor(f"{layer}mlp/c_fc/b", 4 * n_embd)
            tensor(f"{layer}mlp/c_proj/w", 4 * n_embd, n_embd)
            tensor(f"{layer}mlp/c_proj/b", n_embd)
    return path


def ggml_model(tmp_path: Path, path: Path, **kw: object) -> CTransformersModel:
    spec = ModelSpec.model_validate({"id": "tiny-gpt2", "backend": "ctransformers",
                                     "path": str(path), "n_ctx": 256, "n_threads": 1, **kw})
    model = build_model(spec, tmp_path)
    assert isinstance(model, CTransformersModel)
    return model


@pytest.fixture(scope="module")
def ggml_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gpt2(tmp_path_factory.mktemp("ggml") / "tiny-gpt2.bin")


async def test_generates_from_a_ggml_file(tmp_path: Path, ggml_file: Path) -> None:
    model = ggml_model(tmp_path, ggml_file, model_type="gpt2")
    try:
        gen = await model.generate(CONV, SamplingParams(max_tokens=10, seed=1))
        again = await model.generate(CONV, SamplingParams(max_tokens=10, seed=1))
        items = [i async for i in model.stream(CONV, SamplingParams(max_tokens=10, seed=1))]
        count = await model.count_tokens("hello")
    finally:
        await model.close()
    assert gen.model_id == "tiny-gpt2" and 0 < gen.completion_tokens <= 10
    assert gen.prompt_tokens > 10  # the transcript prompt, in the file's own vocabulary
    assert again.text == gen.text  # seeded
    final = items[-1]
    assert isinstance(final, Generation) and final.text == gen.text
    assert all(isinstance(i, str) for i in items[:-1])
    assert count == 5  # one token per letter in this vocabulary


async def test_long_histories_fit_the_ggml_context(tmp_path: Path, ggml_file: Path) -> None:
    model = ggml_model(tmp_path, ggml_file, model_type="gpt2")
    history = [ChatMessage("user", f"message {i} " + "abc " * 20, name="Al") for i in range(30)]
    try:
        gen = await model.generate(Conversation("", history, bot_name="Bot"),
                                   SamplingParams(max_tokens=16, seed=1))
    finally:
        await model.close()
    assert gen.prompt_tokens + 16 <= 256


async def test_gguf_files_are_refused_with_a_pointer_to_llamacpp(tmp_path: Path) -> None:
    model = ggml_model(tmp_path, smollm2_path(), model_type="llama")
    with pytest.raises(ModelError, match=r"GGUF.*cannot load.*backend = \"llamacpp\""):
        await model.generate(CONV, SamplingParams(max_tokens=2))
    await model.close()


async def test_a_ggml_file_needs_its_model_type(tmp_path: Path, ggml_file: Path) -> None:
    model = ggml_model(tmp_path, ggml_file)
    with pytest.raises(ModelError, match="set model_type"):
        await model.generate(CONV, SamplingParams(max_tokens=2))
    await model.close()


async def test_not_a_model_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"PK\x03\x04 not a model")
    model = ggml_model(tmp_path, junk, model_type="gpt2")
    with pytest.raises(ModelError, match="not a GGML model file"):
        await model.generate(CONV, SamplingParams(max_tokens=2))
    await model.close()
