"""Errors a user can cause with a persona file; the message is one line and safe to show."""


class CardError(ValueError):
    """A card, lorebook or PNG that cannot be used, and why."""
