"""Is a candidate reply a loop? It repeats one of the channel's last few replies (exactly,
or nearly: normalised text, a similarity threshold), or it degenerates (one phrase over and
over)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher

RECENT = 3  # replies looked back at
SIMILAR = 0.9  # share of words in common (0..1) at which two replies count as the same
COPIED_WORDS = 12  # a stretch copied word for word this long ...
COPIED_SHARE = 0.4  # ... and this share of the shorter reply is a repeat too
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Lower case, accents and punctuation off, single spaces."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(_WORD.findall(folded))


def repeats(candidate: str, recent: Sequence[str], threshold: float = SIMILAR) -> str | None:
    """The earlier reply `candidate` (nearly) repeats, if any (newest looked at first): the
    same words, or nearly (`threshold` of them in common), or a long stretch copied."""
    mine = normalise(candidate).split()
    if not mine:
        return None
    for earlier in reversed(recent):
        theirs = normalise(earlier).split()
        if not theirs:
            continue
        matcher = SequenceMatcher(None, mine, theirs, autojunk=False)
        if mine == theirs or matcher.ratio() >= threshold:
            return earlier
        copied = matcher.find_longest_match(0, len(mine), 0, len(theirs)).size
        if copied >= COPIED_WORDS and copied >= COPIED_SHARE * min(len(mine), len(theirs)):
            return earlier  # a long stretch copied word for word
    return None


def degenerate(text: str, *, min_words: int = 8, share: float = 0.6) -> bool:
    """One phrase (1 to 12 words) said three times or more back to back, over `share` of
    the text; or a long text made of very few distinct word triples."""
    words = normalise(text).split()
    if len(words) < min_words:
        return False
    for n in range(1, 13):
        for start in range(n):
            run = 1
            for i in range(start + n, len(words) - n + 1, n):
                run = run + 1 if words[i:i + n] == words[i - n:i] else 1
                if run >= 3 and run * n >= share * len(words):
                    return True
    if len(words) >= 30:
        triples = {tuple(words[i:i + 3]) for i in range(len(words) - 2)}
        return len(triples) < 0.25 * (len(words) - 2)
    return False


def is_loop(candidate: str, recent: Sequence[str]) -> str | None:
    """Why `candidate` must not be sent ("repeat" or "degenerate"), or None."""
    if repeats(candidate, recent[-RECENT:]) is not None:
        return "repeat"
    if degenerate(candidate):
        return "degenerate"
    return None
