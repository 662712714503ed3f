"""Contrastive pairs made from real ones, so a ranker learns relevance and coherence and not
only what separates the two replies of its training pairs (on hh-rlhf's harmless part the
preferred reply is often the shorter, evasive one, and a ranker trained on it alone learns
"short wins" — it then prefers a rude one-liner, or a reply cut off after two words, to a
helpful answer).

For each real pair one extra pair, taking turns between three kinds:
- `off_topic`: a real reply to this conversation beats a real reply to another one;
- `shuffled`: a real reply beats the same words in a random order;
- `truncated`: a real reply beats its own first few words, cut mid-sentence.
Only the given (training) pairs are used, so a held-out split stays unseen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from .pairs import PreferencePair

MIN_WORDS = 4  # shorter replies make poor shuffled or truncated copies
SENTENCE_END = (".", "!", "?", "…", ":", ";")


def contrastive_pairs(pairs: Sequence[PreferencePair], seed: int = 0) -> list[PreferencePair]:
    """One contrastive pair per real pair (fewer when there is nothing to contrast)."""
    rng = random.Random(seed)
    kinds: tuple[Callable[..., str | None], ...] = (_off_topic, _shuffled, _truncated)
    out: list[PreferencePair] = []
    for k, pair in enumerate(pairs):
        good = pair.chosen if rng.random() < 0.5 else pair.rejected
        make = kinds[k % len(kinds)]
        bad = make(k, good, pairs, rng)
        if bad is not None and bad.strip() and bad != good:
            out.append(PreferencePair(pair.source, good, bad, f"{pair.key}:{make.__name__[1:]}"))
    return out


def _off_topic(k: int, good: str, pairs: Sequence[PreferencePair], rng: random.Random
               ) -> str | None:
    if len(pairs) < 2:
        return None
    other = pairs[(k + rng.randrange(1, len(pairs))) % len(pairs)]
    return None if other.source == pairs[k].source else rng.choice((other.chosen, other.rejected))


def _shuffled(k: int, good: str, pairs: Sequence[PreferencePair], rng: random.Random
              ) -> str | None:
    words = good.split()
    if len(words) < MIN_WORDS or len(set(words)) < 2:
        return None
    shuffled = words[:]
    while shuffled == words:
        rng.shuffle(shuffled)
    return " ".join(shuffled)


def _truncated(k: int, good: str, pairs: Sequence[PreferencePair], rng: random.Random
               ) -> str | None:
    words = good.split()
    cuts = [n for n in range(1, max(2, len(words) // 3) + 1)
            if n < len(words) and not words[n - 1].endswith(SENTENCE_END)]
    if len(words) < MIN_WORDS or not cuts:
        return None
    return " ".join(words[:rng.choice(cuts)])
