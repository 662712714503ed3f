"""Benchmarks: `blendbot bench NAME [--json]`; the last line printed is one JSON object."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from engines import BlendedEngine, BlendSettings, ChatMessage, Conversation, ReplyRequest
from engines.base import SamplingParams
from engines.llamacpp import LlamaCppModel
from engines.registry import build_model

from . import bench_learned, bench_ranker, bench_routing, bench_service
from .config import ConfigError, Settings

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

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
        messages: list[ChatCompletionRequestMessage] = [
            {"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        t0 = time.perf_counter()
        out = llm.create_chat_completion(messages=messages, seed=seed, **_fields(base, "seed"))
        dt = time.perf_counter() - t0
        assert isinstance(out, dict)  # not streamed: one response
        return dt, out["usage"]["completion_tokens"], out["choices"][0]["message"]["content"] or ""

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


WORDS = ("river", "garden", "lantern", "harbour", "violin", "meadow", "pepper", "glacier",
         "market", "kettle", "orchard", "compass", "thunder", "library", "biscuit", "canyon",
         "window", "festival", "pebble", "chimney", "saddle", "island", "ribbon", "tunnel")
HISTORY_TOKENS = 1100


def _history(topic: str, turns: int) -> list[ChatMessage]:
    """A deterministic, varied conversation of `turns` turns about `topic`."""
    rng = random.Random(topic)
    history = []
    for i in range(turns):
        words = " ".join(rng.choice(WORDS) for _ in range(14))
        if i % 2 == 0:
            history.append(ChatMessage("user", f"About {topic}, turn {i}: {words}?", name="Sam"))
        else:
            history.append(ChatMessage("assistant", f"On {topic} I would say {words}."))
    return history


async def _long_history(model: LlamaCppModel, topic: str) -> list[ChatMessage]:
    """The shortest history about `topic` of at least HISTORY_TOKENS tokens (user turn last)."""
    turns = 1
    while True:
        history = _history(topic, turns)
        text = SYSTEM + "".join(m.content for m in history)
        if await model.count_tokens(text) + 6 * turns >= HISTORY_TOKENS:
            return history
        turns += 2


async def cache(settings: Settings, runs: int | None, say: Callable[[str], None]
                ) -> dict[str, Any]:
    """Time to first token on a ~1,100-token history: cold, a follow-up in the same channel,
    and a follow-up after another channel spoke in between (with and without the KV cache)."""
    runs = runs or 3
    spec = next((m for m in settings.models
                 if m.backend == "llamacpp" and m.prompt_format == "chat_template"), None)
    if spec is None:
        raise ConfigError("bench cache needs a llamacpp model with prompt_format chat_template")
    cached = build_model(spec, settings.data_dir)
    plain = build_model(spec.model_copy(update={"kv_cache_mb": 0}), settings.data_dir)
    assert isinstance(cached, LlamaCppModel) and isinstance(plain, LlamaCppModel)
    params = SamplingParams(max_tokens=8, temperature=0.7, top_p=0.95, top_k=40,
                            repeat_penalty=1.1, seed=7)
    blend = BlendSettings(mode="single")

    async def ttft(engine: BlendedEngine, channel: str, history: list[ChatMessage]
                   ) -> tuple[float, list[ChatMessage], int]:
        """Seconds to the first piece; the history with the reply and a follow-up appended."""
        conv = Conversation(SYSTEM, history, bot_name="Blendbot")
        started, first = time.perf_counter(), None
        generation = None
        async for item in engine.stream(ReplyRequest(channel, conv, blend, params)):
            if isinstance(item, str) and item and first is None:
                first = time.perf_counter() - started
            elif not isinstance(item, str):
                generation = item
        assert generation is not None
        follow_up = ChatMessage("user", f"And what next, after turn {len(history)}?", name="Sam")
        return ((first if first is not None else time.perf_counter() - started),
                [*history, ChatMessage("assistant", generation.text or "..."), follow_up],
                generation.prompt_tokens)

    rows: dict[str, list[float]] = {k: [] for k in (
        "cold", "same", "interleaved", "plain_cold", "plain_interleaved")}
    prompt_tokens = 0
    for model in (cached, plain):
        await model.load()
    engines = {"cached": BlendedEngine([cached], seed=0), "plain": BlendedEngine([plain], seed=0)}
    for run in range(runs):
        a = await _long_history(cached, f"sailing trip {run}")
        b = await _long_history(cached, f"cooking class {run}")
        for name, engine in engines.items():
            model = cached if name == "cached" else plain
            await model.reset_cache()
            cold, a2, prompt_tokens = await ttft(engine, f"a{run}", a)
            same, a3, _ = await ttft(engine, f"a{run}", a2)
            await ttft(engine, f"b{run}", b)  # another channel speaks
            interleaved, _, _ = await ttft(engine, f"a{run}", a3)
            if name == "cached":
                rows["cold"].append(cold)
                rows["same"].append(same)
                rows["interleaved"].append(interleaved)
            else:
                rows["plain_cold"].append(cold)
                rows["plain_interleaved"].append(interleaved)
            say(f"run {run + 1}/{runs} {name:>6}: cold {cold:.3f}s  same channel {same:.3f}s  "
                f"after another channel {interleaved:.3f}s")
    for engine in engines.values():
        await engine.close()

    def ratio(top: str, bottom: str) -> float:
        return round(statistics.median(t / c for t, c in zip(rows[top], rows[bottom],
                                                              strict=True)), 4)

    return {
        "bench": "cache",
        "model": spec.id,
        "runs": runs,
        "history_tokens": prompt_tokens,
        "kv_cache_mb": spec.kv_cache_mb,
        "cold_ttft_s": round(statistics.median(rows["cold"]), 4),
        "same_channel_ttft_s": round(statistics.median(rows["same"]), 4),
        "interleaved_ttft_s": round(statistics.median(rows["interleaved"]), 4),
        "same_channel_ratio": ratio("same", "cold"),
        "interleaved_ratio": ratio("interleaved", "cold"),
        "interleaved_ratio_without_cache": ratio("plain_interleaved", "plain_cold"),
    }


BENCHES: dict[str, Callable[[Settings, int | None, Callable[[str], None]],
                            Awaitable[dict[str, Any]]]] = {
    "blend-overhead": blend_overhead,
    "cache": cache,
    "learned": bench_learned.learned,
    "ranker": bench_ranker.ranker,
    "routing": bench_routing.routing,
    "service": bench_service.service,
}


async def run_bench(name: str, settings: Settings, runs: int | None, json_only: bool,
                    users: int | None = None, seconds: float | None = None,
                    think_s: float | None = None) -> int:
    def say(line: str) -> None:
        if not json_only:
            print(line, flush=True)

    if name == "report":  # needs no models: a synthetic community through the database
        from .bench_report import report_bench

        result = await report_bench(users, say)
    elif name == "load":  # processes, PostgreSQL and Redis, no models
        from .bench_load import THINK_S, load

        result = await load(settings, 60.0 if seconds is None else seconds, say,
                            think_s=THINK_S if think_s is None else think_s)
    else:
        result = await BENCHES[name](settings, runs, say)
    print(json.dumps(result))
    return 0
