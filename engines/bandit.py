"""The bandit behind the `learned` mode: discounted Thompson sampling with an exploration floor.

Pure math, no I/O: the mode (`engines.policies.LearnedPolicy`), the core's reward hook and
`blendbot bench learned` all use these functions, so the bench measures the code that runs.

Each member of a blend is a Bernoulli arm whose reward is "the reply engaged the user"
(continued within 5 minutes, 👍; against it: no continuation, 👎, regenerate). Its belief is
a Beta(prior + wins, prior + losses) where `wins` and `losses` are *discounted* counts.

Why discounted Thompson sampling (Raj & Kalyani, 2017):

* Thompson sampling is the standard for Bernoulli bandits: it matches the lower bound on
  regret asymptotically, needs no tuning beyond the prior, and its draws are a selection
  *distribution* (what the paper's section 6 asks for), not a hard argmax.
* Members drift: a model is swapped for a better build, a persona changes what users like.
  Discounting every count by `discount` per reply of the community keeps an effective memory
  of about 1 / (1 - discount) replies (0.997: about 330), so old evidence fades and a
  member that changed is re-learned in a few hundred replies. The default was tuned with
  `blendbot bench learned`: 0.99 forgets fast (recovery ≈ 80 replies) but its estimates
  are noisy enough to lose reward; 0.997 keeps ≥ 0.90 of the oracle and still recovers in
  about 200 replies; slower discounts recover too late. A sliding window would forget as
  well but needs the whole window stored; the discount needs two numbers per member and is
  exactly what `rebuild` recomputes from the recorded events (a closed-form sum).
* The discount is per reply of the community, not per hour: a busy community and a quiet
  one forget the same amount of *evidence*.
* The floor: with probability `k * min_share` a reply goes to a uniformly drawn member
  (k healthy members), else to the Thompson draw's argmax, so every healthy member keeps at
  least `min_share` of the replies and a member that improves is noticed. The price is a
  cap on the reward: at best (1 - k*m)·best + m·Σ members (`floor_bound`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BanditConfig:
    discount: float = 0.997  # per reply of the community; memory ≈ 1 / (1 - discount) replies
    prior: float = 1.0  # Beta(prior, prior) for a member with no evidence
    min_share: float = 0.10  # every healthy member gets at least this share of replies

    def __post_init__(self) -> None:
        if not 0.0 < self.discount <= 1.0:
            raise ValueError("learned discount must be in (0, 1]")
        if self.prior <= 0:
            raise ValueError("learned prior must be above 0")
        if not 0.0 <= self.min_share <= 1.0:
            raise ValueError("learned_min_share must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class Arm:
    """A member's discounted evidence: `wins` and `losses` as of the community's latest reply."""

    wins: float = 0.0
    losses: float = 0.0

    def mean(self, prior: float) -> float:
        return (prior + self.wins) / (2 * prior + self.wins + self.losses)


Arms = Mapping[str, Arm]


def decayed(arms: Arms, discount: float, steps: int = 1) -> dict[str, Arm]:
    """Every member's evidence after `steps` more replies of the community."""
    f = discount ** steps
    return {m: Arm(a.wins * f, a.losses * f) for m, a in arms.items()}


def credited(arms: Arms, model: str, wins: float = 0.0, losses: float = 0.0,
             age: int = 0, discount: float = 1.0) -> dict[str, Arm]:
    """`arms` with evidence added for `model`, from a reply `age` replies ago (discounted as
    if it had been known then). Counts never go below zero (a withdrawn 👍 stays bounded)."""
    f = discount ** age
    old = arms.get(model, Arm())
    out = dict(arms)
    out[model] = Arm(max(0.0, old.wins + wins * f), max(0.0, old.losses + losses * f))
    return out


def floor_of(members: int, min_share: float) -> float:
    """The share each member is guaranteed (capped so the floors add to at most 1)."""
    return min(min_share, 1.0 / members) if members else 0.0


def choose(members: Sequence[str], arms: Arms, config: BanditConfig,
           rng: random.Random) -> str:
    """One member: a uniform draw with probability k·floor, else the Thompson argmax."""
    if not members:
        raise ValueError("no members to choose from")
    floor = floor_of(len(members), config.min_share)
    if rng.random() < floor * len(members):
        return members[rng.randrange(len(members))]
    return thompson(members, arms, config.prior, rng)


def thompson(members: Sequence[str], arms: Arms, prior: float, rng: random.Random) -> str:
    """The member whose draw from its Beta belief is highest (ties: the first)."""
    best, best_draw = members[0], -1.0
    for m in members:
        a = arms.get(m, Arm())
        draw = rng.betavariate(prior + a.wins, prior + a.losses)
        if draw > best_draw:
            best, best_draw = m, draw
    return best


def shares(members: Sequence[str], arms: Arms, config: BanditConfig,
           samples: int = 2000, seed: int = 0) -> dict[str, float]:
    """Each member's chance of answering the next reply (Monte Carlo over Thompson draws)."""
    if not members:
        return {}
    rng = random.Random(seed)
    floor = floor_of(len(members), config.min_share)
    wins = dict.fromkeys(members, 0)
    for _ in range(samples):
        wins[thompson(members, arms, config.prior, rng)] += 1
    rest = 1.0 - floor * len(members)
    return {m: floor + rest * wins[m] / samples for m in members}


def floor_bound(rewards: Sequence[float], min_share: float) -> float:
    """The best expected reward under the floor, over the best member's: the cap on
    `learned_vs_oracle` (all of the non-floor share on the best member)."""
    floor = floor_of(len(rewards), min_share)
    best = max(rewards)
    expected = (1.0 - floor * len(rewards)) * best + floor * sum(rewards)
    return expected / best
