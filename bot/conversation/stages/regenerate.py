"""Regenerate: only the latest reply of a channel is written again; the press is feedback."""

from __future__ import annotations

from ..pipeline import Next, Turn
from ..service import ChatService

NOT_LATEST = "Only the latest reply can be regenerated."
GREETING = "A greeting cannot be regenerated."


class RegenerateTarget:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def __call__(self, turn: Turn, rest: Next) -> None:
        reply_id = turn.regenerate_of
        assert reply_id is not None
        service = self.service
        turn.addressed = True
        turn.channel = channel = await service.channel(turn.event)
        history = await service.store.history(channel.id, service.options.history_limit)
        if not history or history[-1].id != reply_id or history[-1].role != "assistant":
            return turn.end("notice", NOT_LATEST, reason="not latest")
        if history[-1].model_id is None:
            return turn.end("notice", GREETING, reason="greeting")
        await service.feedback(turn.event, reply_id, "regenerate")
        turn.history = history[:-1]
        turn.reuse = tuple(await service.replies.deliveries(reply_id))
        await rest(turn)
