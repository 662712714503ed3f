"""`blendbot bench learned --json`: the simulated community's figures as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clirun import blendbot


def test_bench_learned_prints_its_figures_as_the_last_line(tmp_path: Path) -> None:
    done = blendbot(tmp_path, "bench", "learned", "--json", "--runs", "2",
                    config="learned_min_share = 0.2\n")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("replies", "learned_vs_oracle", "uniform_vs_oracle", "min_share",
                "recovery_replies"):
        assert isinstance(result[key], int | float), key
    assert result["seeds"] == 2 and result["learned_min_share"] == 0.2  # the config's floor
    assert result["min_share"] >= 0.2 * 0.9
    assert result["uniform_vs_oracle"] < result["learned_vs_oracle"] <= result["floor_bound"] + 0.03


def test_a_floor_outside_zero_to_one_is_a_one_line_error(tmp_path: Path) -> None:
    done = blendbot(tmp_path, "bench", "learned", "--json", config="learned_min_share = 2\n")
    assert done.returncode != 0 and "learned_min_share" in done.stderr
    assert "Traceback" not in done.stderr
