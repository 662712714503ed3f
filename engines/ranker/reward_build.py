"""Build a reward ranker: a sentence encoder exported to ONNX (mean pooling and unit length in
the graph; optional dynamic int8), and its linear head fitted to preference pairs by L2
logistic regression (scikit-learn) on the served encoder's own embeddings (so the head is fitted
to exactly what serving computes)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from .checkpoint import fast_tokenizer
from .encoding import padded
from .export import OPSET, ExportError, optimize, quantize
from .meta import RankerLoadError, plain_tokenizer, vocab_fingerprint
from .pairs import PreferencePair
from .recipe import AUGMENT_WEIGHT, DEFAULT_C
from .reward import EMBEDDING, EXTRA_FEATURES, MAX_TOKENS, RewardMeta, RewardRanker
from .runtime import META_FILE, TOKENIZER_FILE, load_ranker

PARITY_TOLERANCE = 1e-3  # max |Δ| of a unit embedding, PyTorch vs ONNX fp32


class MeanPooled(nn.Module):
    """A Hugging Face encoder with sentence-transformers' pooling: masked mean, unit length."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return functional.normalize(mean, dim=-1)


@dataclass
class Encoder:
    """A backbone directory loaded for PyTorch, with what a `RewardMeta` needs of it."""

    model: MeanPooled
    config: object
    tokenizer: object  # a standalone `tokenizers.Tokenizer`
    meta: RewardMeta

    def torch_ranker(self, meta: RewardMeta | None = None) -> RewardRanker:
        """The same ranker computed by PyTorch eager (benchmarks and parity)."""
        def embed(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return self.model(torch.from_numpy(input_ids),
                                  torch.from_numpy(attention_mask)).double().numpy()

        return RewardRanker(embed, self.tokenizer, meta or self.meta)  # type: ignore[arg-type]


def load_encoder(directory: Path, name: str | None = None,
                 max_tokens: int = MAX_TOKENS) -> Encoder:
    """A plain encoder directory (e.g. the default backbone) and an untrained head for it."""
    from transformers import AutoModel

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise RankerLoadError(f"{directory} is not a model directory (no config.json)")
    hf_tokenizer = fast_tokenizer(directory)
    tokenizer = plain_tokenizer(type(hf_tokenizer.backend_tokenizer).from_str(
        hf_tokenizer.backend_tokenizer.to_str()))
    model = AutoModel.from_pretrained(directory)
    model.eval()
    config = model.config
    limit = int(getattr(config, "max_position_embeddings", max_tokens) or max_tokens)
    cls_id = hf_tokenizer.cls_token_id if hf_tokenizer.cls_token_id is not None \
        else hf_tokenizer.bos_token_id
    sep_id = hf_tokenizer.sep_token_id if hf_tokenizer.sep_token_id is not None \
        else hf_tokenizer.eos_token_id
    if cls_id is None or sep_id is None:
        raise RankerLoadError("the tokenizer has neither CLS/SEP nor BOS/EOS tokens")
    pad_id = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else sep_id
    dim = int(config.hidden_size)
    meta = RewardMeta(cls_id=int(cls_id), sep_id=int(sep_id), pad_id=int(pad_id), dim=dim,
                      vocab_fingerprint=vocab_fingerprint(tokenizer),
                      weights=[0.0] * (dim + len(EXTRA_FEATURES)),
                      max_tokens=min(max_tokens, limit),
                      backbone=name or str(getattr(config, "_name_or_path", "") or
                                           directory.name))
    return Encoder(MeanPooled(model).eval(), config, tokenizer, meta)


@dataclass(frozen=True, slots=True)
class BuildReport:
    path: Path
    int8: bool
    max_abs_diff_fp32: float  # of a unit embedding, vs PyTorch
    max_abs_diff: float  # of the written encoder
    size_bytes: int


def export_encoder(encoder: Encoder, out: Path, *, int8: bool = False,
                   say: Callable[[str], None] = print) -> BuildReport:
    """Write `out` (the encoder graph), `tokenizer.json` and `ranker.json` (the head in
    `encoder.meta`) beside it, after a parity check against PyTorch."""
    encoder.model.eval()
    ids, mask = _sample(encoder)
    with torch.inference_mode():
        expected = encoder.model(torch.from_numpy(ids), torch.from_numpy(mask)).double().numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp_name:
        tmp = Path(tmp_name)
        raw, fp32 = tmp / "raw.onnx", tmp / "fp32.onnx"
        _trace(encoder, ids, mask, raw)
        optimize(encoder.config, raw, fp32, fuse=False)
        encoder.tokenizer.save(str(tmp / TOKENIZER_FILE))  # type: ignore[attr-defined]
        (tmp / META_FILE).write_text(encoder.meta.to_json() + "\n", encoding="utf-8")
        diff32 = _max_diff(fp32, ids, mask, expected)
        say(f"parity PyTorch vs ONNX fp32: max |Δembedding| = {diff32:.2e}")
        if not diff32 < PARITY_TOLERANCE:
            raise ExportError(f"ONNX fp32 differs from PyTorch by {diff32:.2e} "
                              f"(> {PARITY_TOLERANCE:g}); nothing written")
        final, diff = fp32, diff32
        if int8:
            final = tmp / "int8.onnx"
            quantize(fp32, final)
            diff = _max_diff(final, ids, mask, expected)
            say(f"parity PyTorch vs ONNX int8: max |Δembedding| = {diff:.2e}")
        os.replace(final, out)
        os.replace(tmp / TOKENIZER_FILE, out.parent / TOKENIZER_FILE)
        os.replace(tmp / META_FILE, out.parent / META_FILE)
    return BuildReport(out, int8, diff32, diff, out.stat().st_size)


def fit_head(chosen: np.ndarray, rejected: np.ndarray, c: float = DEFAULT_C,
             prior: np.ndarray | None = None, weights: np.ndarray | None = None
             ) -> np.ndarray:
    """Head weights w with σ(w·(f_chosen − f_rejected)) the chance `chosen` wins (each pair in
    both orders; L2 strength 1/c). With `prior` (a served head), its score is one more feature:
    the result is `a · prior + δ`, so it starts from what the prior knows. `weights`: how much
    each pair counts."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    if len(chosen) == 0:
        raise ValueError("no preference pairs to fit a head on")
    diff = chosen - rejected
    if prior is not None:
        diff = np.hstack([diff, (diff @ prior)[:, None]])
    x = np.vstack([diff, -diff])
    y = np.r_[np.ones(len(diff)), np.zeros(len(diff))]
    counts = None if weights is None else np.r_[weights, weights]
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000).fit(
        x, y, sample_weight=counts)
    head = np.asarray(model.coef_[0], dtype=np.float64)
    if prior is not None:
        head = head[:-1] + head[-1] * prior
    return head


def build(encoder: Encoder, pairs: Sequence[PreferencePair], out: Path, *, int8: bool = True,
          c: float = DEFAULT_C, augmented: Sequence[PreferencePair] = (),
          augment_weight: float = AUGMENT_WEIGHT, say: Callable[[str], None] = print,
          **info: object) -> RewardRanker:
    """Export the encoder to `out`, fit the head on `pairs` (and the contrastive `augmented`
    pairs, each counting `augment_weight`) with the exported encoder, and write it into
    `ranker.json`; the served ranker is returned."""
    export_encoder(encoder, out, int8=int8, say=say)
    served = load_ranker(out)
    assert isinstance(served, RewardRanker)
    everything = [*pairs, *augmented]
    say(f"embedding {len(everything)} pairs with {out.name}")
    chosen, rejected = served.pair_features(everything)
    counts = np.r_[np.ones(len(pairs)), np.full(len(augmented), augment_weight)]
    weights = fit_head(chosen, rejected, c, weights=counts)
    meta = served.meta.with_weights(weights, trained_pairs=len(pairs), c=c, int8=int8,
                                    contrastive_pairs=len(augmented),
                                    augment_weight=augment_weight if augmented else 0.0,
                                    **info)
    (out.parent / META_FILE).write_text(meta.to_json() + "\n", encoding="utf-8")
    return served.with_meta(meta)


def _sample(encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
    from .samples import sample_turns

    texts = [t for source, cands in sample_turns(3, n=3, seed=1) for t in (source, *cands)]
    texts.append(" ".join(texts) * 10)  # one cut at the token limit
    ranker = encoder.torch_ranker()
    batch = padded([ranker.ids(t) for t in texts], encoder.meta.pad_id)
    return batch.input_ids, batch.attention_mask


def _trace(encoder: Encoder, ids: np.ndarray, mask: np.ndarray, path: Path) -> None:
    inner = encoder.model.encoder
    set_attention = getattr(inner, "set_attn_implementation", None)
    before = getattr(encoder.config, "_attn_implementation", None)
    if set_attention is not None:
        set_attention("eager")  # plain ops that ONNX Runtime can fuse
    axes = {0: "batch", 1: "sequence"}
    try:
        with torch.inference_mode():
            torch.onnx.export(encoder.model, (torch.from_numpy(ids), torch.from_numpy(mask)),
                              str(path), dynamo=False,
                              input_names=["input_ids", "attention_mask"],
                              output_names=[EMBEDDING],
                              dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                            EMBEDDING: {0: "batch"}},
                              opset_version=OPSET, do_constant_folding=True)
    finally:
        encoder.model.eval()  # the exporter puts back the wrapper's mode on every submodule
        if before and set_attention is not None:
            set_attention(before)


def _max_diff(path: Path, ids: np.ndarray, mask: np.ndarray, expected: np.ndarray) -> float:
    from .runtime import _session

    session = _session(path, 1, ["CPUExecutionProvider"])
    (got,) = session.run([EMBEDDING], {"input_ids": ids, "attention_mask": mask})
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected)))
