"""`ranking_share` for `bench ranker`: real `best_of_n` turns of the configured blend (its
real llama.cpp models), with the time spent ranking measured apart from the generations."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engines import BlendedEngine, BlendSettings, ChatMessage, Conversation, ReplyRequest
from engines.base import SamplingParams
from engines.ranked import RankedOptions
from engines.ranker.aggregate import Ranking
from engines.ranker.provider import RankerProvider
from engines.ranker.scorer import Ranker
from engines.registry import build_model, file_problem_at_start

from .config import Settings
from .ranker_active import served_ranker

TURNS = 3  # each is N generations; a few are enough to see the ratio
PROMPTS = ("Can you help me plan a picnic for this weekend?",
           "I keep forgetting to water my plants. Any ideas?",
           "What should I cook tonight with rice, eggs and spinach?")
SYSTEM = "You are Blendbot, a friendly chat companion. Answer briefly."


class _Timed:
    """A scorer that adds up the seconds spent in `rank`."""

    def __init__(self, inner: Ranker) -> None:
        self.inner = inner
        self.seconds = 0.0

    def rank(self, source: str, candidates: Sequence[str], aggregation: str = "bubble"
             ) -> Ranking:
        started = time.perf_counter()
        try:
            return self.inner.rank(source, candidates, aggregation)
        finally:
            self.seconds += time.perf_counter() - started


async def ranking_share(settings: Settings, say: Callable[[str], None]) -> dict[str, Any]:
    """Ranking time / generation time over `TURNS` real best_of_n turns; `ranking_share` is
    None, with `ranking_share_error` saying why, when the blend's models cannot run here."""
    problems = [p for spec in settings.models
                if (p := file_problem_at_start(spec, settings.data_dir)) is not None]
    if problems or not settings.models:
        return _unavailable(problems[0] if problems else "no models are configured")
    from engines.ranker.runtime import load_ranker

    path: Path = served_ranker(settings)
    timed: list[_Timed] = []

    def load(p: Path, threads: int | None = None) -> Any:
        timed.append(_Timed(load_ranker(p, threads=threads)))
        return timed[-1]

    engine = BlendedEngine(
        [build_model(spec, settings.data_dir) for spec in settings.models], seed=0,
        ranker=RankerProvider(path, settings.ranker_threads, loader=load),
        ranked=RankedOptions(aggregation=settings.ranker_aggregation,
                             samples=settings.ranker_samples))
    params = SamplingParams(max_tokens=64, temperature=0.8, top_p=0.95, seed=0)
    blend = BlendSettings(mode="best_of_n")
    walls: list[float] = []
    ranking: list[float] = []
    candidates = 0
    try:
        for number, prompt in enumerate(PROMPTS[:TURNS]):
            conv = Conversation(SYSTEM, [ChatMessage("user", prompt)], bot_name="Blendbot")
            before = timed[0].seconds if timed else 0.0
            started = time.perf_counter()
            gen = await engine.reply(ReplyRequest(f"bench-{number}", conv, blend, params))
            wall = time.perf_counter() - started
            spent = (timed[0].seconds if timed else 0.0) - before
            candidates += len(gen.candidates)
            if number:  # the first turn loads the models and the ranker
                walls.append(wall)
                ranking.append(spent)
            say(f"best_of_n turn {number + 1}/{TURNS}: {len(gen.candidates)} candidates, "
                f"{wall:.2f}s in all, ranking {spent * 1000:.0f} ms")
    except Exception as exc:  # a model that fails to load or answer: the share is unknown
        return _unavailable(f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        await engine.close()
    generation = sum(walls) - sum(ranking)
    return {
        "ranking_share": round(sum(ranking) / generation, 4) if generation > 0 else None,
        "ranked_turns": len(walls),
        "ranked_candidates_per_turn": round(candidates / TURNS, 2),
        "ranking_ms_per_turn": round(sum(ranking) / len(walls) * 1000, 1),
        "generation_ms_per_turn": round(generation / len(walls) * 1000, 1),
        "ranker": str(path),
    }


def _unavailable(why: str) -> dict[str, Any]:
    return {"ranking_share": None, "ranking_share_error": why}
