"""`load_ranker`: any ranker file served by ONNX Runtime, without PyTorch; `OnnxRanker`: a
PairRM model.

Layout on disk: `NAME.onnx` (the ranker metadata is embedded in the model's metadata), and
`tokenizer.json` beside it. CUDA is used when onnxruntime-gpu finds a GPU, else the CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from .encoding import Batch, PairEncoder
from .meta import META_KEY, RankerLoadError, RankerMeta, plain_tokenizer
from .reward import EMBEDDING, RewardRanker, read_meta
from .scorer import PairScorer, Ranker

log = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask")
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "ranker.json"


class OnnxRanker(PairScorer):
    """One ONNX Runtime session (safe to call from several threads at once)."""

    def __init__(self, session: ort.InferenceSession, encoder: PairEncoder, path: Path) -> None:
        self.session = session
        self.encoder = encoder
        self.path = path

    @property
    def meta(self) -> RankerMeta:
        return self.encoder.meta

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @classmethod
    def load(cls, path: Path | str, *, threads: int | None = None,
             providers: list[str] | None = None) -> OnnxRanker:
        """Open a PairRM ranker; `RankerLoadError` says what is wrong with the file or tokenizer."""
        ranker = load_ranker(path, threads=threads, providers=providers)
        if not isinstance(ranker, OnnxRanker):
            raise RankerLoadError(f"{path} is a reward ranker, not a PairRM")
        return ranker

    @classmethod
    def from_session(cls, session: ort.InferenceSession, path: Path) -> OnnxRanker:
        meta = _meta(session, path)
        tokenizer = _tokenizer(path.parent / TOKENIZER_FILE)
        meta.check_tokenizer(tokenizer, str(path.parent / TOKENIZER_FILE))
        return cls(session, PairEncoder(tokenizer, meta), path)

    def run(self, batch: Batch) -> np.ndarray:
        (logits,) = self.session.run(["logits"], {"input_ids": batch.input_ids,
                                                  "attention_mask": batch.attention_mask})
        return np.asarray(logits, dtype=np.float64).reshape(-1)


def load_ranker(path: Path | str, *, threads: int | None = None,
                providers: list[str] | None = None) -> Ranker:
    """Open any ranker file: a PairRM (output `logits`) or a reward ranker's encoder (output
    `embedding`); `RankerLoadError` says what is wrong with the file, its head or tokenizer."""
    path = Path(path)
    if not path.is_file():
        raise RankerLoadError(f"ranker model {path} does not exist")
    session = _session(path, threads, providers)
    names = tuple(i.name for i in session.get_inputs())
    outputs = {o.name for o in session.get_outputs()}
    if sorted(names) != sorted(INPUTS) or not outputs & {"logits", EMBEDDING}:
        raise RankerLoadError(f"{path} is not a blendbot ranker model "
                              f"(inputs {', '.join(names)}; expected {', '.join(INPUTS)})")
    if EMBEDDING not in outputs:
        return OnnxRanker.from_session(session, path)
    meta = read_meta(path)
    tokenizer = _tokenizer(path.parent / TOKENIZER_FILE)
    meta.check_tokenizer(tokenizer, str(path.parent / TOKENIZER_FILE))

    def embed(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        (out,) = session.run([EMBEDDING], {"input_ids": input_ids,
                                           "attention_mask": attention_mask})
        return np.asarray(out)

    return RewardRanker(embed, tokenizer, meta, path, session.get_providers())


def default_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, then the CPU."""
    available = ort.get_available_providers()
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in wanted if p in available] or ["CPUExecutionProvider"]


def _session(path: Path, threads: int | None, providers: list[str] | None
             ) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0  # 0: one per physical core
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), options, providers=providers or default_providers())
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RankerLoadError(f"cannot load ranker model {path}: not a valid ONNX model "
                              f"({first[:200]})") from exc


def _meta(session: ort.InferenceSession, path: Path) -> RankerMeta:
    embedded = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    if embedded:
        return RankerMeta.from_json(embedded)
    beside = path.parent / META_FILE
    if beside.is_file():
        return RankerMeta.from_json(beside.read_text(encoding="utf-8"))
    raise RankerLoadError(f"{path} carries no ranker metadata and there is no {META_FILE} "
                          "beside it (export it with `blendbot ranker export`)")


def _tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise RankerLoadError(f"tokenizer {path} is missing (`blendbot ranker export` writes "
                              "it beside the model)")
    try:
        return plain_tokenizer(Tokenizer.from_file(str(path)))
    except Exception as exc:  # tokenizers raises a bare Exception for bad JSON
        raise RankerLoadError(f"cannot read tokenizer {path}: {str(exc)[:200]}") from exc
