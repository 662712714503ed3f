"""Deterministic chat turns of realistic length, for export parity checks and benchmarks."""

from __future__ import annotations

import random

from ..base import ChatMessage
from .texts import format_source

TOPICS = ("sourdough bread", "a trip to Lisbon", "learning the violin", "a broken bicycle",
          "houseplants", "a job interview", "running a first 10k", "a board game night",
          "saving money", "a noisy neighbour", "training a puppy", "writing a short story")
ASKS = ("Can you help me with {t}?", "I have been thinking about {t} all week.",
        "What would you do about {t}?", "My friend keeps talking about {t}. Any advice?",
        "Is it silly to worry about {t}?", "Tell me something useful about {t}.")
SENTENCES = (
    "That is a great question, and there are a few things worth considering first.",
    "Start small and give yourself a week or two before you judge the results.",
    "Many people find it easier when they write down a simple plan and stick to it.",
    "If something feels wrong, it is fine to stop and ask someone with more experience.",
    "The most common mistake is trying to do everything at once.",
    "You could also look for a local group; people are usually happy to share tips.",
    "Keep notes on what works and what does not, so you can adjust as you go.",
    "Honestly, there is no single right answer here, but consistency helps a lot.",
    "Make sure you rest enough, because being tired makes everything harder.",
    "I would avoid spending much money until you know you enjoy it.",
    "A good first step is to ask yourself what you actually want from it.",
    "Try it for ten minutes a day and see how it feels after a fortnight.",
)
FILLER = ("hmm", "ok", "sure thing", "I don't know", "yes", "whatever works")


def _reply(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(sentences))


def sample_turn(rng: random.Random, n: int = 4) -> tuple[str, list[str]]:
    """A source of 3–7 turns and `n` candidates of 1–6 sentences (one sometimes a filler)."""
    topic = rng.choice(TOPICS)
    history: list[ChatMessage] = []
    for k in range(rng.choice((3, 5, 7))):
        if k % 2 == 0:
            history.append(ChatMessage("user", rng.choice(ASKS).format(t=topic)))
        else:
            history.append(ChatMessage("assistant", _reply(rng, rng.randint(2, 4))))
    candidates = [_reply(rng, rng.randint(1, 6)) for _ in range(n)]
    if rng.random() < 0.3:
        candidates[rng.randrange(n)] = rng.choice(FILLER)
    return format_source(history), candidates


def sample_turns(count: int, n: int = 4, seed: int = 0) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    return [sample_turn(rng, n) for _ in range(count)]
