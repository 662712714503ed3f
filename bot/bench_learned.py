"""`blendbot bench learned`: the `learned` mode in a simulated community, against uniform and
an oracle.

Three members reward a reply with known probabilities (0.35 / 0.55 / 0.75); halfway through
the best and the worst swap (drift). Each policy answers the same number of replies; its
draws go through the real `LearnedPolicy` (and `UniformPolicy`), its rewards through the
same `engines.bandit` updates the core makes. Figures are means over `--runs` seeds (20):

* `learned_vs_oracle`, `uniform_vs_oracle`: reward over the first 500 replies over the
  oracle's (which always picks the best member) over the same replies;
* `min_share`: the smallest share of replies any member got over the whole run;
* `recovery_replies`: replies after the drift until the new best member has the largest
  chance of answering (and keeps it for 20 replies); the whole rest of the run if never;
* `floor_bound`: the most `learned_vs_oracle` can be under the floor.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from engines.bandit import Arm, BanditConfig, credited, decayed, floor_bound, shares
from engines.policies import BlendSettings, LearnedPolicy, UniformPolicy

from .config import Settings

REWARDS = (0.35, 0.55, 0.75)
MEMBERS = ("low", "mid", "high")
REPLIES = 2000  # the drift comes after half of them
EARLY = 500  # learned_vs_oracle is measured over these first replies
HOLD = 20  # the new best must lead this many replies in a row to count as recovered


def simulate(config: BanditConfig, seed: int, replies: int = REPLIES) -> dict[str, Any]:
    """One seed: the learned and uniform policies and the oracle over the same community."""
    rng = random.Random(seed)
    world = random.Random(seed + 10_000)  # one uniform per reply, shared by the three policies
    learned, uniform = LearnedPolicy(config), UniformPolicy()
    arms: dict[str, Arm] = {}
    drift = replies // 2
    counts = dict.fromkeys(MEMBERS, 0)
    got = {"learned": 0.0, "uniform": 0.0, "oracle": 0.0}
    early = dict(got)
    recovery: int | None = None
    streak = 0
    for step in range(replies):
        p = dict(zip(MEMBERS, REWARDS if step < drift else REWARDS[::-1], strict=True))
        new_best = max(p, key=lambda m: p[m])
        blend = BlendSettings(mode="learned", arms=arms)
        pick = learned.choose(MEMBERS, blend, {}, rng)
        counts[pick] += 1
        u = world.random()  # common random numbers: the policies differ only in their picks
        reward = 1.0 if u < p[pick] else 0.0
        arms = credited(decayed(arms, config.discount), pick, reward, 1.0 - reward)
        got["learned"] += reward
        other = uniform.choose(MEMBERS, BlendSettings(mode="uniform"), {}, rng)
        got["uniform"] += 1.0 if u < p[other] else 0.0
        got["oracle"] += 1.0 if u < p[new_best] else 0.0
        if step + 1 == EARLY:
            early = dict(got)
        if step >= drift and recovery is None:
            now = shares(MEMBERS, arms, config, samples=200, seed=step)
            streak = streak + 1 if max(now, key=lambda m: now[m]) == new_best else 0
            if streak >= HOLD:
                recovery = step - drift + 1 - HOLD
    return {
        "learned_vs_oracle": early["learned"] / early["oracle"],
        "uniform_vs_oracle": early["uniform"] / early["oracle"],
        "learned_vs_oracle_all": got["learned"] / got["oracle"],
        "min_share": min(counts.values()) / replies,
        "recovery_replies": recovery if recovery is not None else replies - drift,
    }


def run(config: BanditConfig, seeds: int, replies: int = REPLIES) -> dict[str, Any]:
    runs = [simulate(config, seed, replies) for seed in range(seeds)]

    def mean(key: str) -> float:
        return round(statistics.fmean(r[key] for r in runs), 4)

    def worst(key: str, pick: Callable[[Sequence[float]], float]) -> float:
        return round(pick([r[key] for r in runs]), 4)

    return {
        "replies": replies,
        "seeds": seeds,
        "learned_vs_oracle": mean("learned_vs_oracle"),
        "uniform_vs_oracle": mean("uniform_vs_oracle"),
        "learned_vs_oracle_all": mean("learned_vs_oracle_all"),
        "min_share": mean("min_share"),
        "recovery_replies": mean("recovery_replies"),
        "learned_vs_oracle_min": worst("learned_vs_oracle", min),
        "min_share_min": worst("min_share", min),
        "recovery_replies_max": worst("recovery_replies", max),
        "floor_bound": round(floor_bound(REWARDS, config.min_share), 4),
        "rewards": list(REWARDS),
        "discount": config.discount,
        "prior": config.prior,
        "learned_min_share": config.min_share,
    }


async def learned(settings: Settings, runs: int | None, say: Callable[[str], None]
                  ) -> dict[str, Any]:
    config = settings.bandit
    result = run(config, runs or 20)
    say(f"{result['seeds']} seeds x {result['replies']} replies, rewards {REWARDS}, "
        f"drift at {result['replies'] // 2}; discount {config.discount}, "
        f"prior {config.prior}, floor {config.min_share}")
    say(f"learned/oracle (first {EARLY}): {result['learned_vs_oracle']:.3f} "
        f"(worst seed {result['learned_vs_oracle_min']:.3f}; floor bound "
        f"{result['floor_bound']:.3f}); uniform/oracle {result['uniform_vs_oracle']:.3f}")
    say(f"min share {result['min_share']:.3f} (worst {result['min_share_min']:.3f}); "
        f"recovery {result['recovery_replies']:.0f} replies "
        f"(worst {result['recovery_replies_max']:.0f})")
    return result
