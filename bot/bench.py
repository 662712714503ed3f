"""Benchmarks: `blendbot bench NAME [--json]`; the last line printed is one JSON object."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from engines import BlendedEngine, BlendSettings, ChatMessage, Conversation, ReplyRequest
from engines.base import SamplingParams
from engines.llamacpp import LlamaCppModel
from engines.registry import build_model

from .config import ConfigError, Settings

PROMPTS = (
    "Hi! How are you today?",
    "Tell me a short story about the sea.",
    "What is your favourite book, and why?",
    "Give me three tips for learning to cook.",
    "Why is the sky blue?",
)
SYSTEM = "You are Blendbot, a friendly chat companion. Answer briefly."


async def blend_overhead(settings: Settings, runs: int | None, say: Callable[[str], None]
                         ) -> dict[str, Any]:
    """BlendedEngine vs a direct llama-cpp-python call: same model, prompt, params and seed."""
    runs = runs or 20
    spec = next((m for m in settings.models if m.backend == "llamacpp"), None)
    if spec is None or spec.prompt_format != "chat_template":
        spec = next((m for m in settings.models
                     if m.backend == "llamacpp" and m.prompt_format == "chat_template"), None)
    if spec is None:
        raise ConfigError("blend-overhead needs a llamacpp model with prompt_format chat_template")
    model = build_model(spec, settings.data_dir)
    assert isinstance(model, LlamaCppModel)
    await model.load()
    llm = model.llama
    engine = BlendedEngine([model], seed=0)  # uniform over one model: the draw still happens
    blend = BlendSettings(mode="uniform")
    base = SamplingParams(max_tokens=48, temperature=0.7, top_p=0.95, top_k=40,
                          repeat_penalty=1.1)

    async def blended(prompt: str, seed: int) -> tuple[float, int, str]:
        conv = Conversation(SYSTEM, [ChatMessage("user", prompt)], bot_name="Blendbot")
        params = SamplingParams(**{**_fields(base), "seed": seed})
        t0 = time.perf_counter()
        gen = await engine.reply(ReplyRequest("bench", conv, blend, params))
        return time.perf_counter() - t0, gen.completion_tokens, gen.text

    def direct(prompt: str, seed: int) -> tuple[float, int, str]:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        t0 = time.perf_counter()
        out = llm.create_chat_completion(messages=messages, seed=seed, **_fields(base, "seed"))
        dt = time.perf_counter() - t0
        return dt, out["usage"]["completion_tokens"], out["choices"][0]["message"]["content"]

    ratios: list[float] = []
    t_blend: list[float] = []
    t_direct: list[float] = []
    identical = 0
    for i in range(runs + 2):  # two warm-up pairs
        prompt, seed = PROMPTS[i % len(PROMPTS)], 1000 + i
        order = ("b", "d") if i % 2 else ("d", "b")
        results: dict[str, tuple[float, int, str]] = {}
        for arm in order:
            llm.reset()  # no KV-cache reuse between arms: each starts cold
            results[arm] = await blended(prompt, seed) if arm == "b" else direct(prompt, seed)
        if i < 2:
            continue
        (tb, nb, xb), (td, nd, xd) = results["b"], results["d"]
        t_blend.append(tb)
        t_direct.append(td)
        ratios.append((tb / max(nb, 1)) / (td / max(nd, 1)) if nb != nd else tb / td)
        identical += xb.strip() == xd.strip()
        say(f"run {i - 1}/{runs}: blended {tb:.3f}s ({nb} tok)  direct {td:.3f}s ({nd} tok)")
    await engine.close()
    return {
        "bench": "blend-overhead",
        "model": spec.id,
        "runs": runs,
        "ratio": round(statistics.median(ratios), 4),
        "blended_median_s": round(statistics.median(t_blend), 4),
        "direct_median_s": round(statistics.median(t_direct), 4),
        "identical_outputs": identical,
        "max_tokens": base.max_tokens,
    }


def _fields(params: SamplingParams, *drop: str) -> dict[str, Any]:
    return {k: getattr(params, k) for k in params.__slots__ if k not in drop}


BENCHES: dict[str, Callable[[Settings, int | None, Callable[[str], None]],
                            Awaitable[dict[str, Any]]]] = {
    "blend-overhead": blend_overhead,
}


async def run_bench(name: str, settings: Settings, runs: int | None, json_only: bool) -> int:
    def say(line: str) -> None:
        if not json_only:
            print(line, flush=True)

    result = await BENCHES[name](settings, runs, say)
    print(json.dumps(result))
    return 0
