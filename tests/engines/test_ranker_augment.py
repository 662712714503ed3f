"""Contrastive pairs made from real preference pairs (`ranker train` adds them by default)."""

from __future__ import annotations

from collections import Counter

from engines.ranker.augment import contrastive_pairs
from engines.ranker.pairs import PreferencePair

REAL = [
    PreferencePair(f"Human: question {k}", f"a helpful answer about topic {k} with detail",
                   f"a worse reply to question {k} here", f"key{k}")
    for k in range(10)
]


def test_one_contrastive_pair_per_real_pair_of_every_kind() -> None:
    made = contrastive_pairs(REAL, seed=1)
    assert len(made) == len(REAL)
    kinds = Counter(p.key.rsplit(":", 1)[1] for p in made)
    assert kinds == {"off_topic": 4, "shuffled": 3, "truncated": 3}
    by_source = {p.source: p for p in REAL}
    for pair in made:
        real = by_source[pair.source]
        assert pair.chosen in (real.chosen, real.rejected)  # a real reply to this conversation
        if pair.key.endswith(":off_topic"):
            others = {t for p in REAL if p.source != pair.source for t in (p.chosen, p.rejected)}
            assert pair.rejected in others
        elif pair.key.endswith(":shuffled"):
            assert pair.rejected != pair.chosen
            assert sorted(pair.rejected.split()) == sorted(pair.chosen.split())
        else:  # truncated mid-sentence: a strict prefix of the words
            words = pair.chosen.split()
            cut = pair.rejected.split()
            assert 1 <= len(cut) < len(words) and words[:len(cut)] == cut


def test_the_same_seed_makes_the_same_pairs() -> None:
    assert contrastive_pairs(REAL, seed=3) == contrastive_pairs(REAL, seed=3)
    assert contrastive_pairs(REAL, seed=3) != contrastive_pairs(REAL, seed=4)


def test_replies_that_cannot_be_shuffled_are_left_alone() -> None:
    one = [PreferencePair("Human: hi", "ha ha ha ha", "no", "k")]
    assert contrastive_pairs(one) == []  # nothing off-topic to draw
    two = [*one, PreferencePair("Human: yo", "Fine. Thanks.", "ok", "j")]
    assert [p.key for p in contrastive_pairs(two)] == ["k:off_topic"]  # nothing to shuffle
    assert contrastive_pairs([]) == []
