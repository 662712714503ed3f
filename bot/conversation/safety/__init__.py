"""Safety and access: the options, and the rules the safety stages apply (access lists,
budgets, moderation, output hygiene). The stages are in `bot.conversation.stages`."""

from .options import ModerationEndpoint, Price, SafetyOptions

__all__ = ["ModerationEndpoint", "Price", "SafetyOptions"]
