"""`blendbot bench ranker --json` on a `make test` environment (the dev extra), and what it
calls a clear turn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.bench_ranker import _top_gap
from engines.ranker import PreferencePair
from tests.clirun import blendbot


class Pointwise:
    """Margins from fixed scores, keyed by candidate text."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def margins(self, pairs: list[PreferencePair]) -> np.ndarray:
        return np.array([self.scores[p.chosen] - self.scores[p.rejected] for p in pairs])


def test_the_top_gap_is_over_the_closest_rival_not_the_knockout_finalist() -> None:
    scorer = Pointwise({"a": 3.0, "b": 2.95, "c": 0.0, "d": -1.0})
    # a knockout pairs a–b and c–d: "c" reaches the final, but "b" is the real runner-up
    assert _top_gap(scorer, "q", ["a", "b", "c", "d"], best=0) == pytest.approx(0.05)
    assert _top_gap(scorer, "q", ["a", "", "c", "d"], best=0) == pytest.approx(3.0)
    assert _top_gap(scorer, "q", ["a", "  "], best=0) == float("inf")  # nothing to beat


def test_bench_ranker_runs_on_the_dev_extra_and_int8_keeps_clear_picks(tmp_path: Path) -> None:
    done = blendbot(tmp_path, "bench", "ranker", "--json", "--runs", "12", timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("turn_ms_torch", "turn_ms_fp32", "turn_ms_int8", "speedup_int8",
                "agreement_int8", "ranking_share"):
        assert isinstance(result[key], int | float), key
    assert result["turns"] == 12 and result["agreement_fp32"] == 1.0
    assert result["clear_turns"] > 0 and result["agreement_int8_clear"] == 1.0
    assert 0 < result["ranking_share"] <= 0.05
