"""Build a `Conversation` from a persona and a channel's history.

Only four macros exist — `{{char}}`, `{{user}}`, `<BOT>`, `<USER>` — and they are plain
string replacements: persona text is untrusted and is never run as a template.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engines.base import ChatMessage, Conversation

_MACROS = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    system_prompt: str
    greeting: str = ""


DEFAULT_PERSONA = Persona(
    name="Blendbot",
    system_prompt=(
        "You are {{char}}, a friendly and helpful chat companion in an online community. "
        "Several people may talk to you; each of their messages starts with their name. "
        "Answer the last message briefly and warmly."
    ),
)


def apply_macros(text: str, char: str, user: str) -> str:
    def sub(match: re.Match[str]) -> str:
        which = (match.group(1) or match.group(2)).lower()
        return char if which in ("char", "bot") else user

    return _MACROS.sub(sub, text)


def build_conversation(persona: Persona, history: Sequence[ChatMessage]) -> Conversation:
    """The persona's system part with macros filled in; `{{user}}` is whoever spoke last."""
    user = next((m.name for m in reversed(history) if m.role == "user" and m.name), "User")
    return Conversation(
        system=apply_macros(persona.system_prompt, persona.name, user),
        history=list(history),
        bot_name=persona.name,
    )
