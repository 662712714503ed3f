"""Record the user's message (committed before any model runs), after any messages kept
while the database was away, in their order; the message is owed a reply until the turn
ends and its reply shows (`bot.conversation.owed`), and a redelivered one whose turn died is
taken over: shown the reply that turn stored, if it got that far, else answered anew."""

from __future__ import annotations

from ...storage import DuplicateMessage
from ..owed import OwedTurns
from ..pending import PendingMessages
from ..pipeline import Next, Outcome, Turn
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
        owed, stored = self.owed, None  # stored: the reply a dead turn stored, not shown
        try:
            message_id = await self.service.add_user_message(turn.channel, turn.event,
                                                             owed_until=owed.until())
        except DuplicateMessage:  # delivered again: answered, being answered, or its turn died
            claimed = await owed.claim(turn.channel.id, turn.event.message_id or "")
            if claimed is None:
                return turn.end("ignored", reason="redelivered")
            message_id = claimed.message_id
            if claimed.reply_id is not None:  # its reply was stored: shown now, not redone
                stored = await owed.stored_reply(claimed.reply_id)
                if stored is not None and set(stored.shown_in) - {claimed.preview}:
                    await owed.settle(message_id)  # shown already: it died just after
                    return turn.end("ignored", reason="redelivered")
            if claimed.preview is not None and turn.live is not None:
                turn.live.adopt(claimed.preview)  # written into, not shown twice
        turn.user_stored = True
        if turn.live is not None:
            turn.live.on_sent = owed.noting_preview(message_id)
        turn.also.append(owed.noting_reply(turn.channel.id, message_id))
        owed.hold(message_id)
        try:
            if stored is not None:
                turn.outcome = Outcome("reply", stored.text, stored.model_id, stored.id)
            else:
                await rest(turn)
        except Exception:  # the apology answers it
            await owed.settle(message_id)
            raise
        except BaseException:  # cancelled (shutting down): still owed, for another process
            owed.release(message_id)
            raise
        outcome = turn.outcome
        if outcome is not None and outcome.kind == "reply" and outcome.message_id is not None:
            turn.shown.append(lambda shown: self._shown(message_id, shown))  # held till seen
        else:
            await owed.settle(message_id)

    def _shown(self, message_id: int, shown: bool) -> None:
        if shown:
            self.owed.shown(message_id)
        else:  # cancelled before it showed: still owed, for another process
            self.owed.release(message_id)
