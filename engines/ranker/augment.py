"""Contrastive pairs made from real ones, so a ranker learns relevance and coherence and not
only what separates the two replies of its training pairs (on hh-rlhf's harmless part the
preferred reply is often the shorter, evasive one, and a ranker trained on it alone learns
"short wins" — it then prefers a rude one-liner to a helpful answer).

For each real pair one extra pair, alternating between two kinds:
- `off_topic`: a real reply to this conversation beats a real reply to another one;
- `shuffled`: a real reply beats the same words in a random order.
Only the given (training) pairs are used, so a held-out split stays unseen.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .pairs import PreferencePair

MIN_WORDS = 4  # shorter replies make poor shuffled copies


def contrastive_pairs(pairs: Sequence[PreferencePair], seed: int = 0) -> list[PreferencePair]:
    """One contrastive pair per real pair (fewer when there is nothing to contrast)."""
    rng = random.Random(seed)
    out: list[PreferencePair] = []
    for k, pair in enumerate(pairs):
        good = pair.chosen if rng.random() < 0.5 else pair.rejected
        if k % 2 == 0 and len(pairs) > 1:
            other = pairs[(k + rng.randrange(1, len(pairs))) % len(pairs)]
            bad = rng.choice((other.chosen, other.rejected))
            if bad.strip() and bad != good and other.source != pair.source:
                out.append(PreferencePair(pair.source, good, bad, f"{pair.key}:off_topic"))
                continue
        words = good.split()
        if len(words) >= MIN_WORDS and len(set(words)) > 1:
            shuffled = words[:]
            while shuffled == words:
                rng.shuffle(shuffled)
            out.append(PreferencePair(pair.source, good, " ".join(shuffled),
                                      f"{pair.key}:shuffled"))
    return out
