"""Record the user's message (committed before any model runs), after any messages kept
while the database was away, in their order."""

from __future__ import annotations

from ...storage import DuplicateMessage
from ..pending import PendingMessages
from ..pipeline import Next, Turn
from ..service import ChatService


class RecordMessage:
    def __init__(self, service: ChatService, pending: PendingMessages) -> None:
        self.service = service
        self.pending = pending

    async def __call__(self, turn: Turn, rest: Next) -> None:
        assert turn.channel is not None
        kept = self.pending.take(turn.key)
        for index, message in enumerate(kept):
            try:
                await self.service.add_user_message(turn.channel, message.event, message.at)
            except DuplicateMessage:
                pass
            except Exception:
                for later in kept[index:]:  # still away: keep this one and the rest
                    self.pending.keep(later.event, later.at)
                raise
        try:
            await self.service.add_user_message(turn.channel, turn.event)
        except DuplicateMessage:  # the same delivery raced us here
            return turn.end("ignored", reason="redelivered")
        turn.user_stored = True
        await rest(turn)
