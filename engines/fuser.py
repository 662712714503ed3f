"""GenFuser-style fusion: a prompt asking a blend model to merge the top candidates into one
reply, and a check for fusions not worth sending."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from .base import Conversation

FUSE_INSTRUCTION = (
    "Here are {k} draft replies to the last message, best first:\n\n{drafts}\n\n"
    "Write one reply that combines their strengths: keep what is correct, helpful and in "
    "character, and leave out mistakes and repetition. Answer with the reply only."
)
MARKERS = ("draft replies", "draft 1:", "draft reply", "combines their strengths")


def fusion_conversation(conversation: Conversation, candidates: Sequence[str]) -> Conversation:
    """The same conversation, with the numbered drafts and the instruction after its last turn."""
    drafts = "\n\n".join(f"Draft {i}: {text.strip()}" for i, text in enumerate(candidates, 1))
    block = FUSE_INSTRUCTION.format(k=len(candidates), drafts=drafts)
    post = f"{conversation.post_history}\n\n{block}" if conversation.post_history else block
    return replace(conversation, post_history=post)


def degenerate(text: str, candidates: Sequence[str]) -> str | None:
    """Why a fusion should not be sent (None when it is fine)."""
    words = text.split()
    if not words:
        return "empty"
    lowered = text.lower()
    if any(marker in lowered for marker in MARKERS):
        return "echoes the instruction"
    if len(words) < 3 and all(len(c.split()) >= 8 for c in candidates):
        return "much shorter than every draft"
    tokens = re.findall(r"\w+", lowered)
    if len(tokens) >= 12:
        trigrams = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
        if len(set(trigrams)) / len(trigrams) < 0.5:
            return "repeats itself"
    return None
