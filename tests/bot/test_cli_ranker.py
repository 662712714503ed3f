"""`blendbot ranker …` and `blendbot chat --mode best_of_n|fuse` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from engines.ranker import SHIPPED_MODEL
from tests.clirun import blendbot

ROOT = Path(__file__).resolve().parents[2]
DEV_PAIRS = ROOT.parent / "shared/data/preferences/hh-rlhf-harmless-dev.jsonl"


def _line(context: str, chosen: str, rejected: str) -> str:
    return json.dumps({"chosen": f"\n\nHuman: {context}\n\nAssistant: {chosen}",
                       "rejected": f"\n\nHuman: {context}\n\nAssistant: {rejected}"})


PAIRS = [
    _line("How do I boil an egg?", "Put it in boiling water for nine minutes, then cool it.",
          "I hate you. Go away."),
    _line("Can you recommend a book?", "The Martian by Andy Weir is gripping and funny.",
          "asdf qwerty zxcv"),
    _line("I feel lonely today.", "I'm sorry you feel lonely. Do you want to talk about it?",
          "Nobody cares, deal with it."),
    _line("What's the capital of France?", "Paris.", ""),  # an empty reply loses
]


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(PAIRS) + "\n")
    return path


def test_eval_json_reports_accuracy_margin_and_speed(tmp_path: Path, pairs_file: Path) -> None:
    run = blendbot(tmp_path, "ranker", "eval", "--pairs", str(pairs_file), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["pairs"] == 4 and result["model"] == str(SHIPPED_MODEL)
    assert 0 <= result["accuracy"] <= 1 and result["correct"] == round(result["accuracy"] * 4)
    assert result["accuracy"] >= 0.75  # obvious pairs, and the empty reply always loses
    assert result["pairs_per_s"] > 0 and isinstance(result["mean_margin"], float)
    text = blendbot(tmp_path, "ranker", "eval", "--pairs", str(pairs_file))
    assert text.returncode == 0 and text.stdout.startswith("accuracy ")


def test_eval_holdout_uses_only_the_held_out_part(tmp_path: Path) -> None:
    if not DEV_PAIRS.is_file():
        pytest.skip("shared preference data not present")
    small = tmp_path / "dev.jsonl"
    small.write_text("".join(DEV_PAIRS.read_text().splitlines(keepends=True)[:60]))
    run = blendbot(tmp_path, "ranker", "eval", "--pairs", str(small), "--holdout", "0.2",
                   "--json")
    assert run.returncode == 0, run.stderr
    held = json.loads(run.stdout.splitlines()[-1])["pairs"]
    assert 3 <= held <= 25  # about a fifth of 60, the same pairs on every run


@pytest.mark.parametrize(("args", "says"), [
    (("--pairs", "missing.jsonl"), "cannot read missing.jsonl"),
    (("--pairs", "bad.jsonl"), "bad.jsonl, line 2:"),
    (("--pairs", "pairs.jsonl", "--model", "nope.onnx"), "ranker model nope.onnx does not exist"),
    (("--pairs", "pairs.jsonl", "--model", "junk/ranker.onnx"), "not a valid ONNX model"),
    (("--pairs", "pairs.jsonl", "--holdout", "1.5"), "--holdout must be above 0"),
])
def test_eval_mistakes_get_one_line_and_exit_code_2(tmp_path: Path, pairs_file: Path,
                                                     args: tuple[str, ...], says: str) -> None:
    (tmp_path / "bad.jsonl").write_text(PAIRS[0] + "\n{not json\n")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "ranker.onnx").write_bytes(b"\x08\x07garbage")
    run = blendbot(tmp_path, "ranker", "eval", *args)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and says in run.stderr


@pytest.mark.parametrize("command", [
    ["train", "--pairs", "p.jsonl", "--out", "d"],
    ["export", "--from", "d", "--out", "x.onnx"],
])
def test_train_and_export_without_torch_say_how_to_install_it(
        command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    import engines.ranker.requires as requires

    real = requires.importlib.util.find_spec
    monkeypatch.setattr(requires.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    monkeypatch.setenv("BLENDBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BLENDBOT_CONFIG", raising=False)
    assert main(["ranker", *command]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "needs torch" in err and "pip install 'blendbot[train]'" in err


def test_train_export_eval_on_a_tiny_backbone(tmp_path: Path, pairs_file: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from tests.engines.tiny_ranker import write_encoder

    monkeypatch.setenv("BLENDBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BLENDBOT_CONFIG", raising=False)
    encoder = write_encoder(tmp_path / "enc")
    assert main(["ranker", "train", "--kind", "pairrm", "--pairs", str(pairs_file), "--from",
                 str(encoder), "--out", str(tmp_path / "ranker"), "--epochs", "1",
                 "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 pairs for training, 0 held out" in out and "feedback in the database: 0" in out
    made = int(out.split("contrastive pairs made from them: ")[1].split()[0])
    assert 1 <= made <= 4 and f"trained {-(-(4 + made) // 2)} steps" in out
    model = tmp_path / "onnx" / "ranker.onnx"
    assert main(["ranker", "export", "--from", str(tmp_path / "ranker"), "--out", str(model),
                 "--int8"]) == 0
    out = capsys.readouterr().out
    assert "parity PyTorch vs ONNX fp32: max |Δlogit| = " in out and model.is_file()
    assert main(["ranker", "eval", "--pairs", str(pairs_file), "--model", str(model),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["pairs"] == 4


def test_train_a_reward_ranker_writes_what_is_served(tmp_path: Path, pairs_file: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from tests.engines.tiny_ranker import write_encoder

    monkeypatch.setenv("BLENDBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BLENDBOT_CONFIG", raising=False)
    encoder = write_encoder(tmp_path / "enc")
    out_dir = tmp_path / "served"
    assert main(["ranker", "train", "--pairs", str(pairs_file), "--from", str(encoder),
                 "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    made = int(out.split("contrastive pairs made from them: ")[1].split()[0])
    assert f"fitted the head on 4 pairs (+ {made} contrastive)" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["ranker.json", "ranker.onnx",
                                                          "tokenizer.json"]
    head = json.loads((out_dir / "ranker.json").read_text())
    assert head["format"] == "blendbot-reward/1" and head["info"]["trained_pairs"] == 4
    assert main(["ranker", "eval", "--pairs", str(pairs_file), "--model",
                 str(out_dir / "ranker.onnx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["pairs"] == 4


BLOCK_TORCH = ("import sys\nfor name in ('torch', 'transformers', 'onnx'):\n"
               "    sys.modules[name] = None\n")


@pytest.mark.model
@pytest.mark.parametrize("mode", ["best_of_n", "fuse"])
def test_chat_in_ranked_modes_works_without_torch(data_dir: Path, tmp_path: Path,
                                                   mode: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    env.update(BLENDBOT_DATA_DIR=str(data_dir), PYTHONPATH=f"{site}{os.pathsep}{ROOT}")
    run = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--mode", mode, "--show-model", "--seed", "2",
         "--max-tokens", "12", "--channel", mode],
        input="Hi! What should I cook tonight?\n", capture_output=True, text=True, env=env,
        cwd=data_dir, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    (line,) = run.stdout.splitlines()
    assert line.startswith(("[smollm2-135m] ", "[gemma3-270m] ")) and line.split("] ", 1)[1]
    assert "ranker unavailable" not in run.stderr
    history = json.loads(blendbot(data_dir, "history", mode, "--json").stdout)
    assert history[-1]["mode"] == mode
