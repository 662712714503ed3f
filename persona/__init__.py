"""Personas: who the bot is in a channel, and how that becomes the prompt's system part."""

from .prompt import DEFAULT_PERSONA, Persona, apply_macros, build_conversation

__all__ = ["DEFAULT_PERSONA", "Persona", "apply_macros", "build_conversation"]
