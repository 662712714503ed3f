"""Chat-format control strings in untrusted text (users, cards, lorebooks) made inert: a
zero-width space after their first character keeps them readable but no tokenizer maps
them to a control token, and no chat template reads them as a turn boundary."""

from __future__ import annotations

import re
from collections.abc import Iterable

ZWSP = "\u200b"
# Control strings common across chat formats (ChatML, Llama 3, Gemma, Mistral, Phi, ...).
GENERIC = re.compile(
    r"<\|[^<>|\s]{1,48}\|>|<(?:start|end)_of_turn>|</?s>|<(?:bos|eos|pad|unk)>|\[/?INST\]"
    r"|<</?SYS>>",
    re.IGNORECASE)


class Neutraliser:
    """Breaks the generic control strings and `extra` ones (a model's own control tokens)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        words = sorted({w for w in extra if len(w) >= 2}, key=len, reverse=True)
        self._extra = re.compile("|".join(map(re.escape, words))) if words else None

    def __call__(self, text: str) -> str:
        text = GENERIC.sub(_break, text)
        if self._extra is not None:
            text = self._extra.sub(_break, text)
        return text


def _break(match: re.Match[str]) -> str:
    word = match.group(0)
    return word[0] + ZWSP + word[1:]


DEFAULT = Neutraliser()
