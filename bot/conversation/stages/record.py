"""Record the user's message (committed before any model runs), after any messages kept
while the database was away, in their order; the message is owed a reply until the turn
ends (`bot.conversation.owed`), and a redelivered one whose turn died is taken over."""

from __future__ import annotations

from ...storage import DuplicateMessage
from ..owed import OwedTurns
from ..pending import PendingMessages
from ..pipeline import Next, Turn
from ..service import ChatService


class RecordMessage:
    def __init__(self, service: ChatService, pending: PendingMessages, owed: OwedTurns) -> None:
        self.service = service
        self.pending = pending
        self.owed = owed

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
        owed = self.owed
        try:
            message_id = await self.service.add_user_message(turn.channel, turn.event,
                                                             owed_until=owed.until())
        except DuplicateMessage:  # delivered again: answered, being answered, or its turn died
            claimed = await owed.claim(turn.channel.id, turn.event.message_id or "")
            if claimed is None:
                return turn.end("ignored", reason="redelivered")
            message_id, dead_preview = claimed
            if dead_preview is not None and turn.live is not None:
                turn.live.adopt(dead_preview)  # written into, not shown twice
        turn.user_stored = True
        if turn.live is not None:
            turn.live.on_sent = owed.noting_preview(message_id)
        turn.also.append(owed.settling(turn.channel.id))
        owed.hold(message_id)
        try:
            await rest(turn)
        except Exception:  # the apology answers it
            owed.release(message_id)
            await owed.settle(message_id)
            raise
        except BaseException:  # cancelled (shutting down): still owed, for another process
            owed.release(message_id)
            raise
        owed.release(message_id)
        outcome = turn.outcome
        if outcome is None or outcome.kind != "reply" or outcome.message_id is None:
            await owed.settle(message_id)
