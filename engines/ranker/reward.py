"""`RewardRanker`: a sentence encoder (ONNX) and a linear reward head, served without PyTorch.

Each candidate gets a score of its own: the head weighs the candidate's sentence embedding
(mean-pooled, unit length), its cosine to the user's last message, and the log of its length.
A turn of N candidates is one batched encoder run of N + 1 short texts, instead of the 2(N − 1)
long cross-encoded pairs of a PairRM; with a thousand preference pairs a linear head over a
frozen encoder also generalises better than fine-tuning one (see the README's figures).

Layout on disk: `NAME.onnx` (inputs `input_ids`, `attention_mask`; output `embedding`), and
beside it `tokenizer.json` and `ranker.json` (`RewardMeta`: the head's weights, token limit,
tokenizer fingerprint). A refresh changes only `ranker.json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from .aggregate import Ranking, rank
from .encoding import padded
from .meta import RankerLoadError, vocab_fingerprint
from .pairs import PreferencePair

FORMAT = "blendbot-reward/1"
EMBEDDING = "embedding"  # the encoder graph's output
EXTRA_FEATURES = ("cosine_to_query", "log_chars")  # after the embedding's dimensions
MAX_TOKENS = 128  # per text: a reply's opening carries what the head can read
HUMAN = "Human:"
BATCH = 1  # texts per encoder run: dynamic int8 quantizes a run's activations with one scale,
# so in a batch a text's embedding would depend on its neighbours; one text per run is exact

Embed = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(input_ids, attention_mask) int64 arrays -> unit embeddings (rows, dim)."""


@dataclass(frozen=True, slots=True)
class RewardMeta:
    cls_id: int
    sep_id: int
    pad_id: int
    dim: int
    vocab_fingerprint: str
    weights: list[float]  # dim + len(EXTRA_FEATURES); all zero: untrained
    max_tokens: int = MAX_TOKENS
    backbone: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    def __post_init__(self) -> None:
        if len(self.weights) != self.dim + len(EXTRA_FEATURES):
            raise ValueError(f"{len(self.weights)} head weights for a {self.dim}-dimensional "
                             f"encoder (expected {self.dim + len(EXTRA_FEATURES)})")
        if self.max_tokens < 4:
            raise ValueError("max_tokens must be at least 4")

    def with_weights(self, weights: np.ndarray, **info: Any) -> RewardMeta:
        return replace(self, weights=[float(w) for w in weights], info={**self.info, **info})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RewardMeta:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                found = data.get("format") if isinstance(data, dict) else None
                raise ValueError(f"unknown format {found!r} (expected {FORMAT})")
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise RankerLoadError(f"bad reward ranker metadata: {exc}") from None

    def check_tokenizer(self, tokenizer: Tokenizer, where: str) -> None:
        if vocab_fingerprint(tokenizer) != self.vocab_fingerprint:
            raise RankerLoadError(f"tokenizer {where} does not match the ranker model (its "
                                  "vocabulary differs from the one the model was exported with)")


def query_of(source: str) -> str:
    """The user's last message in a ranker source (`Human: …` / `Assistant: …` lines)."""
    cut = source.rfind(HUMAN)
    return source[cut + len(HUMAN):].strip() if cut >= 0 else source.strip()


class RewardRanker:
    """Scores candidates one by one; any `Embed` (ONNX Runtime, or PyTorch for benchmarks)."""

    def __init__(self, embed: Embed, tokenizer: Tokenizer, meta: RewardMeta,
                 path: Path | None = None, providers: Sequence[str] = ()) -> None:
        self._embed = embed
        self.tokenizer = tokenizer
        self.meta = meta
        self.path = path
        self.providers = list(providers)
        self.weights = np.asarray(meta.weights, dtype=np.float64)

    def with_meta(self, meta: RewardMeta) -> RewardRanker:
        """The same encoder with another head."""
        return RewardRanker(self._embed, self.tokenizer, meta, self.path, self.providers)

    def ids(self, text: str) -> list[int]:
        m = self.meta
        room = m.max_tokens - 2
        body = self.tokenizer.encode(text[:room * 12], add_special_tokens=False).ids[:room]
        return [m.cls_id, *body, m.sep_id]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit embeddings of `texts` (`BATCH` per encoder run, similar lengths together)."""
        rows = [self.ids(t) for t in texts]
        out = np.zeros((len(rows), self.meta.dim))
        order = sorted(range(len(rows)), key=lambda k: len(rows[k]))
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            batch = padded([rows[k] for k in chunk], self.meta.pad_id)
            out[chunk] = np.asarray(self._embed(batch.input_ids, batch.attention_mask),
                                    dtype=np.float64)
        return out

    def candidate_features(self, source: str, candidates: Sequence[str]) -> np.ndarray:
        """Feature rows of the candidates: one encoder pass over the query and all of them."""
        embedded = self.embed([query_of(source), *candidates])
        return features_rows(np.broadcast_to(embedded[0], embedded[1:].shape), embedded[1:],
                             candidates)

    def scores(self, source: str, candidates: Sequence[str]) -> np.ndarray:
        return self.candidate_features(source, candidates) @ self.weights

    def rank(self, source: str, candidates: Sequence[str], aggregation: str = "bubble"
             ) -> Ranking:
        """Candidates best first (every aggregation agrees: the scores are pointwise); empty
        ones last, never encoded."""
        valid = [i for i, c in enumerate(candidates) if c.strip()]
        score = dict(zip(valid, self.scores(source, [candidates[i] for i in valid])
                         if len(valid) > 1 else [], strict=False))

        def compare(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
            return np.array([score[i] - score[j] for i, j in pairs])

        return rank(candidates, compare, aggregation)

    def pair_features(self, pairs: Sequence[PreferencePair]) -> tuple[np.ndarray, np.ndarray]:
        """(chosen, rejected) feature rows of each pair, for fitting a head."""
        texts = [t for p in pairs for t in (query_of(p.source), p.chosen, p.rejected)]
        embedded = self.embed(texts).reshape(len(pairs), 3, -1)
        chosen = features_rows(embedded[:, 0], embedded[:, 1], [p.chosen for p in pairs])
        rejected = features_rows(embedded[:, 0], embedded[:, 2], [p.rejected for p in pairs])
        return chosen, rejected

    def margins(self, pairs: Sequence[PreferencePair], batch_pairs: int = 16) -> np.ndarray:
        """Score of `chosen` minus that of `rejected` per pair; an empty reply loses to any
        non-empty one."""
        out = np.zeros(len(pairs))
        todo = []
        for k, p in enumerate(pairs):
            if p.chosen.strip() and p.rejected.strip():
                todo.append(k)
            else:
                out[k] = 1.0 if p.chosen.strip() else -1.0 if p.rejected.strip() else 0.0
        if todo:
            chosen, rejected = self.pair_features([pairs[k] for k in todo])
            out[todo] = (chosen - rejected) @ self.weights
        return out


def features_rows(queries: np.ndarray, embeddings: np.ndarray, texts: Sequence[str]
                  ) -> np.ndarray:
    """One row per text: its embedding, cosine to its query, log(1 + characters)."""
    cosine = np.einsum("nd,nd->n", embeddings, queries)
    chars = np.log1p(np.array([len(t.strip()) for t in texts], dtype=np.float64))
    return np.hstack([embeddings, cosine[:, None], chars[:, None]])


def read_meta(model: Path) -> RewardMeta:
    beside = model.parent / "ranker.json"
    if not beside.is_file():
        raise RankerLoadError(f"{model} is a reward ranker's encoder but there is no "
                              f"{beside.name} beside it (its head)")
    return RewardMeta.from_json(beside.read_text(encoding="utf-8"))
