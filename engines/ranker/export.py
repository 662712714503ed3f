"""Export a PyTorch ranker checkpoint to ONNX: dynamic batch and sequence axes, ONNX Runtime
graph optimizations, optional dynamic int8 quantization, and a parity check against PyTorch
before anything is written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from .checkpoint import Checkpoint
from .encoding import Batch, PairEncoder
from .meta import META_KEY
from .runtime import META_FILE, TOKENIZER_FILE, OnnxRanker
from .samples import sample_turns

PARITY_TOLERANCE = 1e-3  # max |Δlogit| allowed between PyTorch and ONNX fp32
OPSET = 17
BERT_LIKE = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "mpnet")


class ExportError(RuntimeError):
    """The exported model does not reproduce PyTorch's logits; nothing was written."""


@dataclass(frozen=True, slots=True)
class ExportReport:
    path: Path
    int8: bool
    max_abs_diff_fp32: float  # vs PyTorch, on the sample pairs
    max_abs_diff: float  # of the written model (int8 when quantized) vs PyTorch
    sign_agreement: float  # fraction of sample pairs where the written model picks as torch
    size_bytes: int


def sample_batch(encoder: PairEncoder, turns: int = 4) -> Batch:
    """Comparisons of different lengths (one candidate truncated) for tracing and parity."""
    rows = []
    for source, cands in sample_turns(turns, n=3, seed=1):
        src = encoder.source(source)
        ids = [encoder.candidate(c) for c in [*cands[:2], " ".join(cands) * 20]]
        rows += [encoder.pair(src, ids[0], ids[1]), encoder.pair(src, ids[2], ids[0])]
    return encoder.batch(rows)


def torch_logits(ckpt: Checkpoint, batch: Batch) -> np.ndarray:
    with torch.inference_mode():
        logits, _ = ckpt.model(torch.from_numpy(batch.input_ids),
                               torch.from_numpy(batch.attention_mask))
    return logits.double().numpy()


def export(ckpt: Checkpoint, out: Path, *, int8: bool = False,
           say: Callable[[str], None] = print) -> ExportReport:
    """Write `out` (ONNX), `tokenizer.json` and `ranker.json` beside it, after the parity check."""
    ckpt.model.eval()
    tokenizer = ckpt.runtime_tokenizer()
    encoder = PairEncoder(tokenizer, ckpt.meta)
    batch = sample_batch(encoder)
    expected = torch_logits(ckpt, batch)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp_name:
        tmp = Path(tmp_name)
        raw, fp32 = tmp / "raw.onnx", tmp / "fp32.onnx"
        _trace(ckpt, batch, raw)
        optimize(ckpt.config, raw, fp32)
        tokenizer.save(str(tmp / TOKENIZER_FILE))
        _embed_meta(fp32, ckpt)
        diff32 = _max_diff(fp32, expected, batch)
        say(f"parity PyTorch vs ONNX fp32: max |Δlogit| = {diff32:.2e} "
            f"on {len(expected)} sample comparisons")
        if not diff32 < PARITY_TOLERANCE:
            raise ExportError(f"ONNX fp32 differs from PyTorch by {diff32:.2e} "
                              f"(> {PARITY_TOLERANCE:g}); nothing written")
        final, diff = fp32, diff32
        if int8:
            final = tmp / "int8.onnx"
            quantize(fp32, final)
            _embed_meta(final, ckpt)
            diff = _max_diff(final, expected, batch)
            say(f"parity PyTorch vs ONNX int8: max |Δlogit| = {diff:.2e}")
        got = OnnxRanker.load(final, threads=1).run(batch)
        agree = float(np.mean(np.sign(got) == np.sign(expected)))
        os.replace(final, out)
        os.replace(tmp / TOKENIZER_FILE, out.parent / TOKENIZER_FILE)
    (out.parent / META_FILE).write_text(ckpt.meta.to_json() + "\n", encoding="utf-8")
    return ExportReport(out, int8, diff32, diff, agree, out.stat().st_size)


def _trace(ckpt: Checkpoint, batch: Batch, path: Path) -> None:
    axes = {0: "batch", 1: "sequence"}
    encoder = ckpt.model.pretrained_model
    before = getattr(encoder.config, "_attn_implementation", None)
    set_attention: Callable[[str], None] | None = getattr(
        encoder, "set_attn_implementation", None)  # a Hugging Face model's, when it has one
    if set_attention is not None:  # plain ops that ONNX Runtime can fuse
        set_attention("eager")
    try:
        _export_graph(ckpt, batch, path, axes)
    finally:  # PyTorch itself keeps its default (SDPA) attention
        if before and set_attention is not None:
            set_attention(before)


def _export_graph(ckpt: Checkpoint, batch: Batch, path: Path, axes: dict[int, str]) -> None:
    with torch.inference_mode():
        torch.onnx.export(
            ckpt.model,
            (torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)),
            str(path),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits", "scores"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes,
                          "logits": {0: "batch"}, "scores": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def optimize(config: Any, raw: Path, out: Path, *, fuse: bool = True) -> None:
    """Fuse attention, LayerNorm and GELU where ONNX Runtime knows the architecture.

    `fuse=False`: ONNX Runtime's basic optimizations only; the transformer fusions are exact only
    at the positions PairRM reads, not for a mean over every token."""
    if fuse and config.model_type in BERT_LIKE:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        fusion = FusionOptions("bert")
        fusion.enable_embed_layer_norm = False  # keeps the embedding a Gather int8 can shrink
        optimized = optimize_model(str(raw), model_type="bert",
                                   num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size, opt_level=1,
                                   optimization_options=fusion)
        optimized.save_model_to_file(str(out))
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(out)
        ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])


def quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Attention", "Gather"],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _embed_meta(path: Path, ckpt: Checkpoint) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, ckpt.meta.to_json()
    onnx.save(model, str(path))


def _max_diff(path: Path, expected: np.ndarray, batch: Batch) -> float:
    got = OnnxRanker.load(path, threads=1).run(batch)
    return float(np.max(np.abs(got - expected)))
