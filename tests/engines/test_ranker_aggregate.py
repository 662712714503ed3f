from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from engines.ranker.aggregate import AGGREGATIONS, rank


class Judge:
    """Logits from hidden qualities: logit(i, j) = q[i] − q[j] (+ a slot bias)."""

    def __init__(self, quality: Sequence[float], slot_bias: float = 0.0) -> None:
        self.quality = quality
        self.slot_bias = slot_bias
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        self.calls.append(list(pairs))
        return np.array([self.quality[i] - self.quality[j] + self.slot_bias for i, j in pairs])


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_the_best_candidate_wins_under_every_aggregation(aggregation: str, n: int) -> None:
    quality = [float((k * 7) % n) for k in range(n)]  # a permutation of 0..n-1
    judge = Judge(quality, slot_bias=0.3)  # a first-slot bias cancels out in both orders
    ranking = rank([f"reply {k}" for k in range(n)], judge, aggregation)
    assert ranking.best == int(np.argmax(quality))
    assert sorted(ranking.order) == list(range(n))
    if aggregation != "bubble":  # a full ranking orders everyone
        assert list(ranking.order) == sorted(range(n), key=lambda k: -quality[k])


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_bubble_makes_n_minus_1_comparisons_in_both_orders_one_run_per_round(n: int) -> None:
    judge = Judge(list(range(n)))
    ranking = rank(["x"] * n, judge, "bubble")
    pairs = [p for call in judge.calls for p in call]
    assert len(pairs) == 2 * (n - 1) == ranking.comparisons
    assert all((j, i) in pairs for i, j in pairs)  # each comparison in both orders
    assert ranking.runs == len(judge.calls) == int(np.ceil(np.log2(n)))


def test_full_matrix_aggregations_run_every_ordered_pair_at_once() -> None:
    for aggregation in ("max_logits", "max_wins"):
        judge = Judge([0.1, 0.5, 0.2, 0.9])
        ranking = rank(["w", "x", "y", "z"], judge, aggregation)
        assert len(judge.calls) == 1 and len(judge.calls[0]) == 12 == ranking.comparisons


def test_max_wins_counts_wins_before_margins() -> None:
    # a beats b and c narrowly, but loses to d by a lot; d loses to b and c.
    table = {(0, 1): 0.1, (0, 2): 0.1, (0, 3): -5.0, (1, 2): 0.0, (1, 3): 1.0, (2, 3): 1.0}

    def judge(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        return np.array([table[(i, j)] if (i, j) in table else -table[(j, i)] for i, j in pairs])

    assert rank(list("abcd"), judge, "max_wins").best == 0  # two wins
    assert rank(list("abcd"), judge, "max_logits").best == 3  # the largest total margin


def test_empty_candidates_rank_last_and_are_never_compared() -> None:
    judge = Judge([0.0, 9.0, 1.0, 9.0, 2.0])
    ranking = rank(["a", "", "b", "  \n", "c"], judge, "max_logits")
    assert ranking.order[-2:] == (1, 3)
    assert ranking.scores[1] is None and ranking.scores[3] is None
    assert all(1 not in p and 3 not in p for call in judge.calls for p in call)
    assert ranking.best == 4


@pytest.mark.parametrize("texts", [["", " "], ["only one", ""], ["alone"], []])
def test_fewer_than_two_real_candidates_need_no_model_call(texts: list[str]) -> None:
    judge = Judge([1.0] * len(texts))
    ranking = rank(texts, judge, "bubble")
    assert judge.calls == [] and ranking.comparisons == 0
    assert sorted(ranking.order) == list(range(len(texts)))
    if "only one" in texts:
        assert ranking.best == 0


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(ValueError, match="choose from bubble, max_logits, max_wins"):
        rank(["a", "b"], Judge([0, 1]), "borda")
