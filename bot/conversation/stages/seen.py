"""Seen before? A message the platform delivers again (a resumed Discord session, a retried
Telegram webhook) is recognised by its platform id and gets no second reply."""

from __future__ import annotations

from ..pending import PendingMessages
from ..pipeline import Next, Turn
from ..service import ChatService


class Seen:
    def __init__(self, service: ChatService, pending: PendingMessages) -> None:
        self.service = service
        self.pending = pending

    async def __call__(self, turn: Turn, rest: Next) -> None:
        message_id, channel = turn.event.message_id, turn.channel
        if message_id is not None and channel is not None and (
                self.pending.has(turn.key, message_id)
                or await self.service.store.has_message(channel.id, message_id)):
            return turn.end("ignored", reason="redelivered")
        await rest(turn)
