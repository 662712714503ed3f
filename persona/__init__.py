"""Personas: character cards (V1/V2/V3, JSON and PNG), lorebooks, bundled characters and
building a prompt from a card and a channel's history."""

from .bundled import ASSISTANT, bundled_cards
from .card import CharacterCard, parse_card, parse_card_json
from .errors import CardError
from .loader import load_card, load_card_file, load_lorebook_file
from .lorebook import Lorebook, LoreEntry
from .png import write_card_png
from .prompt import (
    GLOBAL_SYSTEM_PROMPT,
    apply_macros,
    build_conversation,
    example_blocks,
    pick_greeting,
)

__all__ = [
    "ASSISTANT",
    "GLOBAL_SYSTEM_PROMPT",
    "CardError",
    "CharacterCard",
    "LoreEntry",
    "Lorebook",
    "apply_macros",
    "build_conversation",
    "bundled_cards",
    "example_blocks",
    "load_card",
    "load_card_file",
    "load_lorebook_file",
    "parse_card",
    "parse_card_json",
    "pick_greeting",
    "write_card_png",
]
