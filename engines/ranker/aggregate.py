"""From pairwise logits to one ranking of N candidates: `bubble`, `max_logits`, `max_wins`.

Every comparison is made in both orders (the model sees each candidate in each slot) and the
margin of i over j is (logit(i, j) − logit(j, i)) / 2. A candidate's score is its mean margin
over the comparisons it took part in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

Aggregation = Literal["bubble", "max_logits", "max_wins"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)

Compare = Callable[[Sequence[tuple[int, int]]], np.ndarray]
"""Logits for ordered pairs (i, j), > 0 when i is better; one call is one batched model run."""


@dataclass(frozen=True, slots=True)
class Ranking:
    """Candidates best first, each one's score, and what the ranking cost."""

    order: tuple[int, ...]  # candidate indices, best first
    scores: tuple[float | None, ...]  # by candidate index; None: never compared (e.g. empty)
    comparisons: int = 0  # sequences the model ran
    runs: int = 0  # batched model runs

    @property
    def best(self) -> int:
        return self.order[0]

    def rank_of(self, index: int) -> int:
        """1 for the best candidate."""
        return self.order.index(index) + 1


def rank(texts: Sequence[str], compare: Compare, aggregation: str = "bubble") -> Ranking:
    """Rank candidate texts; empty or whitespace ones go last and are never compared."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation '{aggregation}' (choose from "
                         f"{', '.join(AGGREGATIONS)})")
    valid = [i for i, t in enumerate(texts) if t.strip()]
    empty = [i for i in range(len(texts)) if i not in valid]
    if len(valid) < 2:
        return Ranking((*valid, *empty), (None,) * len(texts))

    def local(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        return np.asarray(compare([(valid[a], valid[b]) for a, b in pairs]), dtype=np.float64)

    counted = _Counted(local)
    if aggregation == "bubble":
        order, scores = _knockout(len(valid), counted)
    else:
        order, scores = _full(len(valid), counted, by_wins=aggregation == "max_wins")
    all_scores: list[float | None] = [None] * len(texts)
    for k, i in enumerate(valid):
        all_scores[i] = scores[k]
    return Ranking((*(valid[k] for k in order), *empty), tuple(all_scores),
                   counted.sequences, counted.runs)


class _Counted:
    def __init__(self, compare: Compare) -> None:
        self.compare = compare
        self.sequences = 0
        self.runs = 0

    def __call__(self, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        self.sequences += len(pairs)
        self.runs += 1
        return self.compare(pairs)


def _knockout(n: int, compare: Compare) -> tuple[list[int], list[float]]:
    """N−1 comparisons as a knockout: each round's matches are one batched run."""
    alive = list(range(n))
    margins: list[list[float]] = [[] for _ in range(n)]
    out_in = [0] * n  # the round a candidate lost in; the winner gets one more
    round_no = 0
    while len(alive) > 1:
        round_no += 1
        matches = [(alive[k], alive[k + 1]) for k in range(0, len(alive) - 1, 2)]
        logits = compare([p for a, b in matches for p in ((a, b), (b, a))])
        winners = []
        for k, (a, b) in enumerate(matches):
            margin = float(logits[2 * k] - logits[2 * k + 1]) / 2
            margins[a].append(margin)
            margins[b].append(-margin)
            winner, loser = (a, b) if margin >= 0 else (b, a)
            winners.append(winner)
            out_in[loser] = round_no
        alive = winners + ([alive[-1]] if len(alive) % 2 else [])
    out_in[alive[0]] = round_no + 1
    scores = [float(np.mean(m)) for m in margins]
    return sorted(range(n), key=lambda i: (-out_in[i], -scores[i], i)), scores


def _full(n: int, compare: Compare, *, by_wins: bool) -> tuple[list[int], list[float]]:
    """Every ordered pair in one run; rank by mean margin, or by wins then mean margin."""
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    logits = compare(pairs)
    matrix = np.zeros((n, n))
    for (i, j), value in zip(pairs, logits, strict=True):
        matrix[i, j] = value
    margin = (matrix - matrix.T) / 2
    scores = [float(margin[i].sum() / (n - 1)) for i in range(n)]
    wins = [int((margin[i] > 0).sum()) for i in range(n)]
    key = (lambda i: (-wins[i], -scores[i], i)) if by_wins else (lambda i: (-scores[i], i))
    return sorted(range(n), key=key), scores
