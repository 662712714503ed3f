"""What a ranker model carries besides its weights: prefix tokens, token budgets, and a
fingerprint of the tokenizer it was trained with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tokenizers import Tokenizer

FORMAT = "blendbot-pairrm/1"
META_KEY = "blendbot_ranker"  # the ONNX metadata_props key holding `RankerMeta` as JSON
SOURCE_PREFIX = "<|source|>"
CANDIDATE1_PREFIX = "<|candidate1|>"
CANDIDATE2_PREFIX = "<|candidate2|>"
PREFIX_TOKENS = (SOURCE_PREFIX, CANDIDATE1_PREFIX, CANDIDATE2_PREFIX)
PAIRRM_SOURCE_BUDGET = 1224
PAIRRM_CANDIDATE_BUDGET = 412


class RankerLoadError(RuntimeError):
    """A ranker model, tokenizer or metadata that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Budgets:
    """Token budgets: the source (CLS, prefix and SEP included) and each candidate.

    Source budget the source does not use is shared between the two candidates.
    """

    source: int = PAIRRM_SOURCE_BUDGET
    candidate: int = PAIRRM_CANDIDATE_BUDGET

    def __post_init__(self) -> None:
        if self.source < 8 or self.candidate < 8:
            raise ValueError("token budgets must be at least 8")

    @property
    def total(self) -> int:
        return self.source + 2 * self.candidate


@dataclass(frozen=True, slots=True)
class RankerMeta:
    """Token ids and budgets a pair encoder needs, and the tokenizer's fingerprint."""

    cls_id: int
    sep_id: int
    pad_id: int
    source_prefix_id: int
    candidate1_prefix_id: int
    candidate2_prefix_id: int
    vocab_fingerprint: str
    budgets: Budgets = field(default_factory=Budgets)
    backbone: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # training and export notes
    format: str = FORMAT

    @property
    def special_ids(self) -> frozenset[int]:
        return frozenset((self.cls_id, self.sep_id, self.pad_id, self.source_prefix_id,
                          self.candidate1_prefix_id, self.candidate2_prefix_id))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RankerMeta:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r} (expected {FORMAT})")
            data["budgets"] = Budgets(**data.get("budgets", {}))
            return cls(**data)
        except (ValueError, TypeError, AttributeError) as exc:
            raise RankerLoadError(f"bad ranker metadata: {exc}") from None

    def check_tokenizer(self, tokenizer: Tokenizer, where: str) -> None:
        """Raise `RankerLoadError` unless `tokenizer` is the one this model was made with."""
        ids = {SOURCE_PREFIX: self.source_prefix_id, CANDIDATE1_PREFIX: self.candidate1_prefix_id,
               CANDIDATE2_PREFIX: self.candidate2_prefix_id}
        for token, expected in ids.items():
            found = tokenizer.token_to_id(token)
            if found != expected:
                raise RankerLoadError(
                    f"tokenizer {where} does not match the ranker model: {token} is "
                    f"{'missing' if found is None else f'id {found}'}, the model expects "
                    f"id {expected}")
        if vocab_fingerprint(tokenizer) != self.vocab_fingerprint:
            raise RankerLoadError(
                f"tokenizer {where} does not match the ranker model (its vocabulary differs "
                "from the one the model was exported with)")


def vocab_fingerprint(tokenizer: Tokenizer) -> str:
    """A hash of the tokenizer's vocabulary (added tokens included), independent of JSON layout."""
    vocab = sorted(tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
    digest = hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:32]


def plain_tokenizer(tokenizer: Tokenizer) -> Tokenizer:
    """The tokenizer with truncation and padding turned off (budgets are applied by hand)."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
