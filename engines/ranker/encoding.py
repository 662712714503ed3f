"""Token ids for PairRM comparisons: `[CLS]<|source|> source [SEP][CLS]<|candidate1|> c1 [SEP]
[CLS]<|candidate2|> c2 [SEP]`, within the budgets, batched and padded to the longest pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from .meta import RankerMeta

CHARS_PER_TOKEN = 12  # text beyond budget * this is never tokenized (it would be cut anyway)


@dataclass(frozen=True, slots=True)
class Batch:
    """Model inputs for some comparisons: int64 arrays of shape (pairs, longest pair)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


class PairEncoder:
    """Builds model inputs from texts with the model's own tokenizer and budgets."""

    def __init__(self, tokenizer: Tokenizer, meta: RankerMeta) -> None:
        self.tokenizer = tokenizer
        self.meta = meta
        self._special = meta.special_ids

    def tokens(self, text: str, limit: int, *, keep_end: bool = False) -> list[int]:
        """Content token ids of `text`, at most `limit` (the end kept for sources).

        Our special tokens typed inside a text are dropped, so each prefix occurs once.
        """
        room = limit * CHARS_PER_TOKEN
        text = text[-room:] if keep_end else text[:room]
        ids = [i for i in self.tokenizer.encode(text, add_special_tokens=False).ids
               if i not in self._special]
        return ids[-limit:] if keep_end else ids[:limit]

    def source(self, text: str) -> list[int]:
        """`[CLS]<|source|> … [SEP]` within the source budget, keeping the newest text."""
        m = self.meta
        body = self.tokens(text, m.budgets.source - 3, keep_end=True) if text else []
        return [m.cls_id, m.source_prefix_id, *body, m.sep_id]

    def candidate(self, text: str) -> list[int]:
        """Content ids of a candidate, cut to the largest budget it could ever get."""
        b = self.meta.budgets
        return self.tokens(text, (b.total - 3) // 2 - 3)  # the room next to an empty source

    def pair(self, source_ids: Sequence[int], first: Sequence[int], second: Sequence[int]
             ) -> list[int]:
        """One comparison's ids; the candidates share what the source left of its budget."""
        m = self.meta
        room = (m.budgets.total - len(source_ids)) // 2 - 3
        return [*source_ids,
                m.cls_id, m.candidate1_prefix_id, *first[:room], m.sep_id,
                m.cls_id, m.candidate2_prefix_id, *second[:room], m.sep_id]

    def batch(self, rows: Sequence[Sequence[int]]) -> Batch:
        return padded(rows, self.meta.pad_id)


def padded(rows: Sequence[Sequence[int]], pad_id: int) -> Batch:
    """Rows padded (right) to the longest one."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return Batch(ids, mask)
