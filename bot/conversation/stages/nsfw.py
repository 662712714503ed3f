"""NSFW persona: a channel whose persona is marked NSFW answers only while NSFW personas are
allowed there (the channel lost its age-restricted flag, the chat's opt-in was withdrawn:
a notice instead of a reply)."""

from __future__ import annotations

from ..pipeline import Next, Turn
from ..service import ChatService


class PersonaAllowed:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def __call__(self, turn: Turn, rest: Next) -> None:
        channel = turn.channel
        assert channel is not None
        choice = await self.service.persona_of(channel)
        why = await self.service.nsfw.refusal(turn.event, channel, choice)
        if why is not None:
            return turn.end("notice", f"{why} An admin can choose another persona with "
                            "/persona set.", reason="nsfw persona")
        await rest(turn)
