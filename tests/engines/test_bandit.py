"""The `learned` policy's math: the floor holds, it learns the best member, it follows drift."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bot.bench_learned import simulate
from engines import BlendSettings
from engines.bandit import Arm, BanditConfig, credited, decayed, floor_bound, shares
from engines.policies import LearnedPolicy

MEMBERS = ("a", "b", "c")


def test_every_member_keeps_its_floor_however_sure_the_evidence() -> None:
    arms = {"a": Arm(900, 10), "b": Arm(5, 900), "c": Arm(0, 400)}
    config = BanditConfig(min_share=0.10)
    now = shares(MEMBERS, arms, config)
    assert now["a"] == pytest.approx(0.80, abs=0.01)
    assert min(now.values()) >= 0.10
    rng, policy = random.Random(3), LearnedPolicy(config)
    picks = Counter(policy.choose(MEMBERS, BlendSettings("learned", arms=arms), {}, rng)
                    for _ in range(6000))
    assert picks["b"] / 6000 > 0.09 and picks["c"] / 6000 > 0.09
    assert picks["a"] / 6000 == pytest.approx(0.80, abs=0.02)


def test_a_member_without_evidence_is_drawn_and_the_floor_caps_at_one_over_k() -> None:
    config = BanditConfig(min_share=0.6)  # more than 1/k: everyone gets 1/k
    assert shares(("a", "b"), {}, config) == {"a": 0.5, "b": 0.5}
    assert floor_bound((0.35, 0.55, 0.75), 0.10) == pytest.approx(0.92)


def test_discount_and_credit_are_the_closed_form_sums() -> None:
    arms = credited({}, "a", 1.0, 0.0)
    arms = credited(decayed(arms, 0.5), "b", 0.0, 1.0)
    arms = credited(arms, "a", 1.0, 0.0, age=1, discount=0.5)  # 👍 on a reply 1 step old
    assert arms == {"a": Arm(1.0, 0.0), "b": Arm(0.0, 1.0)}
    assert credited(arms, "b", 0.0, -5.0)["b"] == Arm(0.0, 0.0)  # never below zero


def test_it_learns_the_best_member_and_follows_drift() -> None:
    result = simulate(BanditConfig(), seed=7, replies=1600)
    assert result["learned_vs_oracle"] > result["uniform_vs_oracle"] + 0.1
    assert result["learned_vs_oracle"] > 0.85
    assert result["min_share"] >= 0.10
    assert result["recovery_replies"] < 600  # the new best leads well before the end


def test_without_discount_it_is_slower_to_follow_drift() -> None:
    forgetting = simulate(BanditConfig(discount=0.99), seed=1, replies=1600)
    never = simulate(BanditConfig(discount=1.0), seed=1, replies=1600)
    assert forgetting["recovery_replies"] < never["recovery_replies"]
