"""`blendbot bench ranker`: the same ranker weights and turns through PyTorch eager, ONNX fp32
and ONNX int8 — latency per turn, speedups, and top-1 agreement with PyTorch (on all turns, and
on the clear ones, where PyTorch's best beats every other candidate by a margin above
`CLEAR_GAP`) — and what ranking costs next to generation in real `best_of_n` turns of the
configured blend."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.ranker import SHIPPED_CHECKPOINT, PreferencePair, RankerLoadError
from engines.ranker.requires import (
    BACKBONE_NAME,
    TrainExtraMissing,
    default_backbone,
    missing_train_packages,
)
from engines.ranker.samples import sample_turns

from .bench_ranked_turns import ranking_share
from .config import ConfigError, Settings
from .ranker_active import served_ranker

CANDIDATES = 4
CLEAR_GAP = 0.1  # a turn is clear when PyTorch's best beats its closest rival by more than this
LOCAL_CHECKPOINT = Path("build/ranker")  # where `make ranker` trains the shipped ranker


async def ranker(settings: Settings, runs: int | None, say: Callable[[str], None]
                 ) -> dict[str, Any]:
    missing = missing_train_packages()
    if missing:
        raise ConfigError(f"bench ranker needs {', '.join(missing)} (the dev or train extra): "
                          "pip install 'blendbot[dev]'")
    result = await asyncio.to_thread(_bench, settings, runs or 100, say)
    result.update(await ranking_share(settings, say))
    return result


def _bench(settings: Settings, turns: int, say: Callable[[str], None]) -> dict[str, Any]:
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    threads = settings.ranker_threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    aggregation = settings.ranker_aggregation
    with tempfile.TemporaryDirectory(prefix="blendbot-bench-ranker-") as tmp:
        weights, scorers, reports, tokens_of = _backends(settings, Path(tmp), threads, say)
        samples = sample_turns(turns + 3, n=CANDIDATES, seed=0)
        times: dict[str, list[float]] = {k: [] for k in scorers}
        best: dict[str, list[int]] = {k: [] for k in scorers}
        gaps: list[float] = []  # PyTorch's margin of its best over its second
        names = list(scorers)
        for number, (source, candidates) in enumerate(samples):
            rotated = names[number % 3:] + names[:number % 3]  # no backend always goes first
            for name in rotated:
                started = time.perf_counter()
                ranking = scorers[name].rank(source, candidates, aggregation)
                if number >= 3:  # three warm-up turns
                    times[name].append(time.perf_counter() - started)
                    best[name].append(ranking.best)
                    if name == "torch":
                        gaps.append(_top_gap(scorers[name], source, candidates, ranking.best))
            if number >= 3 and (number - 2) % 20 == 0:
                say(f"turn {number - 2}/{turns}: " + "  ".join(
                    f"{k} {statistics.median(v) * 1000:.1f} ms" for k, v in times.items()))
        tokens = [tokens_of(s, cs) for s, cs in samples[3:]]

    def speedup(kind: str) -> float:
        return round(statistics.median(t / o for t, o in zip(times["torch"], times[kind],
                                                              strict=True)), 3)

    def agreement(kind: str, clear: bool = False) -> float | None:
        picked = [(a, b) for a, b, g in zip(best["torch"], best[kind], gaps, strict=True)
                  if g > CLEAR_GAP or not clear]
        return round(sum(a == b for a, b in picked) / len(picked), 4) if picked else None

    return {
        "bench": "ranker",
        "weights": weights,
        "turns": turns,
        "candidates": CANDIDATES,
        "aggregation": aggregation,
        "threads": threads,
        "mean_tokens_per_turn": round(statistics.mean(tokens), 1),
        "turn_ms_torch": _ms(times["torch"]),
        "turn_ms_fp32": _ms(times["fp32"]),
        "turn_ms_int8": _ms(times["int8"]),
        "speedup_fp32": speedup("fp32"),
        "speedup_int8": speedup("int8"),
        "agreement_fp32": agreement("fp32"),
        "agreement_int8": agreement("int8"),
        "agreement_int8_clear": agreement("int8", clear=True),
        "clear_turns": sum(g > CLEAR_GAP for g in gaps),
        "max_abs_dlogit_fp32": float(f"{reports['fp32'][0]:.3g}"),
        "max_abs_dlogit_int8": float(f"{reports['int8'][0]:.3g}"),
        "size_mb_fp32": round(reports["fp32"][1] / 2**20, 1),
        "size_mb_int8": round(reports["int8"][1] / 2**20, 1),
    }


Backends = tuple[str, dict[str, Any], dict[str, tuple[float, int]], Callable[..., int]]


def _backends(settings: Settings, tmp: Path, threads: int, say: Callable[[str], None]
              ) -> Backends:
    """(what was measured, the torch/fp32/int8 rankers, each export's (max |Δ| of what it
    outputs vs PyTorch, bytes), tokens of a turn): the served ranker's kind decides."""
    from engines.ranker.reward import RewardRanker
    from engines.ranker.runtime import load_ranker

    try:
        served = load_ranker(served_ranker(settings), threads=threads)
    except RankerLoadError:
        served = None
    if isinstance(served, RewardRanker):
        return _reward_backends(served, tmp, threads, say)
    from engines.ranker.export import export
    from engines.ranker.runtime import OnnxRanker
    from engines.ranker.torch_scorer import TorchScorer

    ckpt, weights = _weights(settings)
    reports = {kind: export(ckpt, tmp / kind / "ranker.onnx", int8=kind == "int8", say=say)
               for kind in ("fp32", "int8")}
    scorers = {"torch": TorchScorer(ckpt),
               **{k: OnnxRanker.load(r.path, threads=threads) for k, r in reports.items()}}
    encoder = scorers["torch"].encoder

    def tokens(source: str, candidates: list[str]) -> int:
        return len(encoder.source(source)) + sum(len(encoder.candidate(c)) for c in candidates)

    return weights, scorers, {k: (r.max_abs_diff, r.size_bytes) for k, r in reports.items()}, \
        tokens


def _reward_backends(served: Any, tmp: Path, threads: int, say: Callable[[str], None]
                     ) -> Backends:
    """The served reward ranker's head on the default backbone in PyTorch, and on fresh fp32
    and int8 exports of it."""
    from dataclasses import replace

    from engines.ranker.reward import query_of
    from engines.ranker.reward_build import export_encoder, load_encoder
    from engines.ranker.runtime import load_ranker

    try:
        encoder = load_encoder(default_backbone(), BACKBONE_NAME)
    except TrainExtraMissing as exc:
        raise ConfigError(f"bench ranker needs {exc}") from None
    if encoder.meta.vocab_fingerprint != served.meta.vocab_fingerprint \
            or encoder.meta.dim != served.meta.dim:
        raise ConfigError(f"bench ranker measures reward rankers on {BACKBONE_NAME}; the served "
                          f"one ({served.path}) was built on {served.meta.backbone or 'another'}")
    encoder = replace(encoder, meta=served.meta)
    reports = {kind: export_encoder(encoder, tmp / kind / "ranker.onnx", int8=kind == "int8",
                                    say=say) for kind in ("fp32", "int8")}
    torch_ranker = encoder.torch_ranker()
    scorers: dict[str, Any] = {
        "torch": torch_ranker,
        **{k: load_ranker(r.path, threads=threads) for k, r in reports.items()}}

    def tokens(source: str, candidates: list[str]) -> int:
        return sum(len(torch_ranker.ids(t)) for t in (query_of(source), *candidates))

    return f"{served.path} (reward head on {BACKBONE_NAME})", scorers, \
        {k: (r.max_abs_diff, r.size_bytes) for k, r in reports.items()}, tokens


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def _top_gap(scorer: Any, source: str, candidates: list[str], best: int) -> float:
    """The margin of the best candidate over its closest rival (both orders): the top-two gap.
    Not over the ranking's second, which a knockout (`bubble`) leaves as the final's loser."""
    rivals = [PreferencePair(source, candidates[best], c)
              for k, c in enumerate(candidates) if k != best and c.strip()]
    return float(min(scorer.margins(rivals))) if rivals else float("inf")


def _weights(settings: Settings) -> tuple[Any, str]:
    """A trained ranker (`ranker_checkpoint`, else `make ranker`'s), else all-MiniLM-L6-v2 with
    a fresh head (the timings hold; agreement is then measured on an untrained head)."""
    from engines.ranker.checkpoint import default_budgets, init_from_backbone, load_checkpoint

    for path in (settings.ranker_checkpoint, LOCAL_CHECKPOINT, SHIPPED_CHECKPOINT):
        if path is not None and (path / "config.json").is_file():
            return load_checkpoint(path), str(path)
    try:
        backbone = default_backbone()
    except TrainExtraMissing as exc:
        raise ConfigError(f"bench ranker needs a trained ranker (ranker_checkpoint) or {exc}"
                          ) from None
    return (init_from_backbone(backbone, default_budgets(backbone), name=BACKBONE_NAME),
            f"{BACKBONE_NAME}, untrained head")
