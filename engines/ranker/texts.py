"""The ranker's view of a conversation: one `source` text, the same at training and serving."""

from __future__ import annotations

from collections.abc import Sequence

from ..base import ChatMessage

MAX_SOURCE_TURNS = 12  # older turns would not fit any budget; the newest matter most


def format_source(history: Sequence[ChatMessage], max_turns: int = MAX_SOURCE_TURNS) -> str:
    """`Human: …` / `Assistant: …` lines of the newest turns (hh-rlhf's own layout)."""
    lines = []
    for message in list(history)[-max_turns:]:
        text = message.content.strip()
        if message.role == "system" or not text:
            continue
        speaker = "Human" if message.role == "user" else "Assistant"
        lines.append(f"{speaker}: {text}")
    return "\n".join(lines)
