"""A character card plus a channel's history → the `Conversation` a model answers.

Only four macros exist — `{{char}}`, `{{user}}`, `<BOT>`, `<USER>` — and `{{original}}` in a
card's system prompt; they are plain string replacements: card text is untrusted and is never
run as a template. `creator_notes`, `tags` and `creator` never reach the prompt.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from engines.base import ChatMessage, Conversation, LoreText

from .card import CharacterCard
from .lorebook import Lorebook

GLOBAL_SYSTEM_PROMPT = (
    "You are {{char}}. Stay in character and reply to the last message. Several people may "
    "talk to you; each of their messages starts with their name."
)
_MACROS = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)
_START = re.compile(r"<START>", re.IGNORECASE)


def apply_macros(text: str, char: str, user: str) -> str:
    def sub(match: re.Match[str]) -> str:
        which = (match.group(1) or match.group(2)).lower()
        return char if which in ("char", "bot") else user

    return _MACROS.sub(sub, text)


def example_blocks(mes_example: str) -> list[str]:
    """`mes_example` split into its `<START>` blocks."""
    return [b.strip() for b in _START.split(mes_example) if b.strip()]


def greetings(card: CharacterCard) -> list[str]:
    return [g for g in [card.data.first_mes, *card.data.alternate_greetings] if g.strip()]


def pick_greeting(card: CharacterCard, user: str, rng: random.Random) -> str | None:
    """`first_mes` or one of the `alternate_greetings`, drawn at random; None if none."""
    options = greetings(card)
    return apply_macros(rng.choice(options), card.name, user) if options else None


def build_conversation(
    card: CharacterCard,
    history: Sequence[ChatMessage],
    global_system: str = GLOBAL_SYSTEM_PROMPT,
    lorebooks: Sequence[Lorebook] = (),
) -> Conversation:
    """The prompt parts for the next reply; `{{user}}` is whoever spoke last."""
    char = card.name
    user = next((m.name for m in reversed(history) if m.role == "user" and m.name), "User")

    def fill(text: str) -> str:
        return apply_macros(text, char, user).strip()

    data = card.data
    own = data.system_prompt.strip()
    system = own.replace("{{original}}", global_system) if own else global_system
    parts = [fill(system), fill(data.description)]
    if data.personality.strip():
        parts.append(f"{char}'s personality: {fill(data.personality)}")
    if data.scenario.strip():
        parts.append(f"Scenario: {fill(data.scenario)}")

    books = [b for b in (card.lorebook(), *lorebooks) if b is not None]
    recent = [m.content for m in history]
    lore = tuple(
        LoreText(fill(entry.content), entry.order)
        for book in books
        for entry in book.scan(recent)
    )
    budgets = [b.token_budget for b in books if b.token_budget]
    return Conversation(
        system="\n\n".join(p for p in parts if p),
        history=list(history),
        bot_name=char,
        post_history=fill(data.post_history_instructions),
        examples=tuple(f"Example conversation:\n{fill(b)}" for b in example_blocks(
            data.mes_example)),
        lore=lore,
        lore_budget=min(budgets) if budgets else None,
    )
