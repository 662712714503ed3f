"""NSFW personas: a card tagged NSFW (by its author, or by an admin's `--nsfw` on import) is
used only where the platform says the channel is age-restricted (Discord's channel flag,
`InboundEvent.age_restricted`), or, on platforms without such a flag (Telegram), in chats
whose admins opted in with `/nsfw on`."""

from __future__ import annotations

from ..personas import PersonaChoice, is_nsfw
from ..storage import ChannelState, Store
from ..storage.nsfw import NsfwOptIn
from .inbound import InboundEvent


class NotAllowedHere(Exception):
    """The persona may not be used in this channel (the message says why)."""


class NsfwGate:
    def __init__(self, store: Store) -> None:
        self.opt_in = NsfwOptIn(store)

    async def allowed(self, event: InboundEvent, channel: ChannelState) -> bool:
        """Whether NSFW personas may be used where `event` happened."""
        if event.age_restricted is not None:
            return event.age_restricted
        return await self.opt_in.allowed(channel.community_id)

    async def refusal(self, event: InboundEvent, channel: ChannelState,
                      choice: PersonaChoice) -> str | None:
        """Why `choice` may not be used here, or None when it may."""
        if not is_nsfw(choice.card) or await self.allowed(event, channel):
            return None
        if event.age_restricted is not None:
            return (f"{choice.name} is marked NSFW: it can only be used in age-restricted "
                    "channels (an admin can mark a channel age-restricted in its settings).")
        return (f"{choice.name} is marked NSFW: an admin must first allow NSFW personas in "
                "this chat with /nsfw on.")
