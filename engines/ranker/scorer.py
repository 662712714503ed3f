"""`Ranker`: what any ranker offers; `PairScorer`: ranking and pair margins on top of any
backend that turns a batch into logits."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .aggregate import Ranking, rank
from .encoding import Batch, PairEncoder
from .pairs import PreferencePair


class Ranker(Protocol):
    """What ranked modes, benchmarks and evaluation need of a ranker, whatever its kind."""

    def rank(self, source: str, candidates: Sequence[str], aggregation: str = "bubble"
             ) -> Ranking: ...

    def margins(self, pairs: Sequence[PreferencePair], batch_pairs: int = 16) -> np.ndarray: ...

    @property
    def providers(self) -> list[str]: ...


class PairScorer(abc.ABC):
    """A PairRM model behind `run`; the same encoding and aggregation for every backend."""

    encoder: PairEncoder

    @abc.abstractmethod
    def run(self, batch: Batch) -> np.ndarray:
        """Logits (s1 − s2) for each row of `batch`: > 0 when candidate 1 is better."""

    def rank(self, source: str, candidates: Sequence[str], aggregation: str = "bubble"
             ) -> Ranking:
        """Candidates best first; each turn's comparisons of one round go in one run."""
        enc = self.encoder
        source_ids = enc.source(source)
        ids = [enc.candidate(c) if c.strip() else [] for c in candidates]

        def compare(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
            rows = [enc.pair(source_ids, ids[i], ids[j]) for i, j in pairs]
            return self.run(enc.batch(rows))

        return rank(candidates, compare, aggregation)

    def margins(self, pairs: Sequence[PreferencePair], batch_pairs: int = 16) -> np.ndarray:
        """Margin of `chosen` over `rejected` for each pair (both orders; > 0: chosen wins).

        An empty reply loses to any non-empty one without a model call.
        """
        enc = self.encoder
        out = np.zeros(len(pairs))
        todo = []
        for k, p in enumerate(pairs):
            if p.chosen.strip() and p.rejected.strip():
                todo.append(k)
            else:
                out[k] = 1.0 if p.chosen.strip() else -1.0 if p.rejected.strip() else 0.0
        rows: dict[int, tuple[list[int], list[int]]] = {}
        for k in todo:
            p = pairs[k]
            src, c, r = enc.source(p.source), enc.candidate(p.chosen), enc.candidate(p.rejected)
            rows[k] = (enc.pair(src, c, r), enc.pair(src, r, c))
        todo.sort(key=lambda k: len(rows[k][0]))  # similar lengths together: less padding
        for start in range(0, len(todo), batch_pairs):
            chunk = todo[start:start + batch_pairs]
            logits = self.run(enc.batch([row for k in chunk for row in rows[k]]))
            for n, k in enumerate(chunk):
                out[k] = (logits[2 * n] - logits[2 * n + 1]) / 2
        return out
