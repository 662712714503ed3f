"""Stored messages as a prompt sees them, made once per message: a stored message does not
change, so a turn does not rebuild its whole history's turns and lines again."""

from __future__ import annotations

from functools import lru_cache

from engines import ChatMessage
from engines.prompts import speaker_line

from ..storage import StoredMessage

KEPT = 20_000  # messages: the recent histories of a hundred busy channels


@lru_cache(maxsize=KEPT)
def chat_message(message: StoredMessage) -> ChatMessage:
    """The turn a stored message is in a prompt (a user's carries their name)."""
    if message.role == "user":
        return ChatMessage("user", message.text, name=message.author or "User")
    return ChatMessage("assistant", message.text)


@lru_cache(maxsize=KEPT)
def prompt_line(message: StoredMessage) -> str:
    """Its text as the model reads it (`Alice: text` for a user's)."""
    return speaker_line(chat_message(message))
