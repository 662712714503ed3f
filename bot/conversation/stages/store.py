"""Store the reply (model, mode, tokens, latency, candidates) before it is shown, with the
streamed preview that will show it: one transaction."""

from __future__ import annotations

from ..pipeline import Outcome, Turn
from ..service import ChatService


class StoreReply:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def __call__(self, turn: Turn, rest: object) -> None:
        assert turn.channel is not None and turn.request is not None
        generation = turn.generation
        assert generation is not None
        preview = await turn.live.finish() if turn.live is not None else None
        turn.recorded = (preview,) if preview is not None else ()
        message_id = await self.service.add_reply(turn.channel, turn.request.blend.mode,
                                                  generation, replaces=turn.regenerate_of,
                                                  shown_in=turn.recorded,
                                                  redraws=len(turn.redraws),
                                                  also=turn.also)
        turn.outcome = Outcome("reply", generation.text, generation.model_id, message_id,
                               generation.notices)
