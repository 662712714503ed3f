"""Memory: the prompt keeps the newest turns that fit the smallest member's context, the
summary of the turns before them, the pinned facts, and the message being replied to when
it fell out of the window; a new summary is started after the turn when one is due."""

from __future__ import annotations

import logging
from dataclasses import replace

from ..memory import ChannelMemory
from ..pipeline import Next, Turn
from ..quality.quotes import with_quote

log = logging.getLogger(__name__)


class Memory:
    def __init__(self, memory: ChannelMemory, max_tokens: int) -> None:
        self.memory = memory
        self.max_tokens = max_tokens

    async def __call__(self, turn: Turn, rest: Next) -> None:
        request, channel = turn.request, turn.channel
        assert request is not None and channel is not None
        conversation = request.conversation
        try:
            recall = await self.memory.recall(channel.id, request.blend, turn.history,
                                              conversation, self.max_tokens)
        except Exception as exc:  # the turn is answered without memory (the engine fits it)
            log.warning("memory: recall failed in %s: %s", turn.key, exc,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            return await rest(turn)
        window = list(conversation.history)[recall.window:]
        turn.request = replace(request, conversation=replace(
            conversation,
            history=with_quote(turn.event, window, conversation.bot_name),
            summary=recall.summary.text if recall.summary else "",
            facts=tuple(f.text for f in recall.facts),
            facts_budget=self.memory.facts_budget))
        await rest(turn)
        if self.memory.due(recall, turn.history):
            self.memory.summarise_later(channel.id, turn.key, request.blend, turn.history,
                                        recall)
