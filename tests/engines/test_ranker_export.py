"""Export and training on tiny random backbones (PyTorch; skipped without the train extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")

from engines.ranker.checkpoint import (
    default_budgets,
    init_from_backbone,
    load_checkpoint,
    save_checkpoint,
)
from engines.ranker.export import ExportError, export, torch_logits
from engines.ranker.meta import Budgets, RankerLoadError
from engines.ranker.pairs import PreferencePair
from engines.ranker.runtime import OnnxRanker
from engines.ranker.train import TrainOptions, train
from tests.engines.tiny_ranker import write_encoder, write_pairrm


def _quiet(line: str) -> None:
    pass


@pytest.mark.parametrize("arch", ["deberta-v2", "bert"])
def test_export_matches_pytorch_on_new_batch_and_sequence_sizes(tmp_path: Path, arch: str
                                                                 ) -> None:
    ckpt = load_checkpoint(write_pairrm(tmp_path / "pairrm", arch))
    out = tmp_path / "onnx" / "ranker.onnx"
    report = export(ckpt, out, say=_quiet)
    assert report.max_abs_diff_fp32 < 1e-3
    assert {p.name for p in out.parent.iterdir()} == {"ranker.onnx", "tokenizer.json",
                                                      "ranker.json"}
    ranker = OnnxRanker.load(out, threads=1)
    enc = ranker.encoder
    for pairs, words in ((1, 2), (7, 30), (3, 150)):  # shapes the trace never saw
        source = enc.source(" ".join(["how can you help me with bread"] * words))
        rows = [enc.pair(source, enc.candidate("good help " * (k + 1)),
                         enc.candidate("bad awful no " * (words + k))) for k in range(pairs)]
        batch = enc.batch(rows)
        diff = np.abs(ranker.run(batch) - torch_logits(ckpt, batch)).max()
        assert diff < 1e-3, (batch.input_ids.shape, diff)


def test_int8_export_is_smaller_and_still_ranks(tmp_path: Path) -> None:
    ckpt = load_checkpoint(write_pairrm(tmp_path / "pairrm", "bert"))
    fp32 = export(ckpt, tmp_path / "a" / "ranker.onnx", say=_quiet)
    int8 = export(ckpt, tmp_path / "b" / "ranker.onnx", int8=True, say=_quiet)
    assert int8.int8 and int8.size_bytes < fp32.size_bytes
    ranking = OnnxRanker.load(int8.path).rank("hi", ["hello how can i help", "", "no"])
    assert ranking.order[-1] == 1


def test_a_ranker_and_its_real_pairrm_budgets_round_trip(tmp_path: Path) -> None:
    ckpt = load_checkpoint(write_pairrm(tmp_path / "pairrm", "deberta-v2"))
    assert ckpt.meta.budgets == Budgets(1224, 412)  # relative positions: PairRM's own
    save_checkpoint(ckpt, tmp_path / "copy")
    again = load_checkpoint(tmp_path / "copy")
    assert again.meta == ckpt.meta
    for a, b in zip(ckpt.model.state_dict().values(), again.model.state_dict().values(),
                    strict=True):
        assert (a == b).all()


def test_a_plain_encoder_is_not_taken_for_a_ranker(tmp_path: Path) -> None:
    encoder = write_encoder(tmp_path / "enc")
    with pytest.raises(RankerLoadError, match="no PairRM head"):
        load_checkpoint(encoder)
    assert default_budgets(encoder) == Budgets(128, 64)  # fits its 256 positions
    with pytest.raises(RankerLoadError, match="exceed this encoder's 256 positions"):
        init_from_backbone(encoder, Budgets(200, 100))


def test_export_refuses_a_model_onnx_cannot_reproduce(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = load_checkpoint(write_pairrm(tmp_path / "pairrm", "bert"))
    import engines.ranker.export as module

    monkeypatch.setattr(module, "torch_logits", lambda c, b: torch_logits(c, b) + 0.01)
    out = tmp_path / "x" / "ranker.onnx"
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export(ckpt, out, say=_quiet)
    assert not out.exists()


def test_training_learns_a_clear_preference(tmp_path: Path) -> None:
    encoder = write_encoder(tmp_path / "enc", "bert")
    ckpt = init_from_backbone(encoder, Budgets(64, 32))
    topics = ["bread", "violin", "bike", "plan", "week", "day"]
    pairs = [PreferencePair(f"how can you help me with {t}", f"yes i can help with {t} thanks",
                            f"no bad awful {t}") for t in topics]
    before = _accuracy(ckpt, pairs)
    report = train(ckpt, pairs, TrainOptions(epochs=12, batch_pairs=3, lr=1e-3, head_lr=3e-3),
                   say=_quiet)
    assert report.steps == 24 and report.last_loss < report.first_loss
    assert _accuracy(ckpt, pairs) == 1.0 > before or before == 1.0
    assert report.last_loss < 0.3


def _accuracy(ckpt, pairs) -> float:  # type: ignore[no-untyped-def]
    from engines.ranker.torch_scorer import TorchScorer

    return float((TorchScorer(ckpt).margins(pairs) > 0).mean())
