"""Respond: whatever the rest of the turn ends with becomes a render plan, shown through the
adapter's `Outbox`; any failure on the way becomes one polite line and a logged traceback."""

from __future__ import annotations

import asyncio
import logging

from ...logs import log_failure
from ..outbox import SendError
from ..pacing import Pacer
from ..pending import PendingMessages
from ..pipeline import Next, Outcome, Turn
from ..render import LivePreview, compose, deliver, plan
from ..service import ChatService

log = logging.getLogger(__name__)
APOLOGY = "Sorry, something went wrong on my side. Please try again."


class Respond:
    def __init__(self, service: ChatService, pacer: Pacer, pending: PendingMessages) -> None:
        self.service = service
        self.pacer = pacer
        self.pending = pending

    async def __call__(self, turn: Turn, rest: Next) -> None:
        event = turn.event
        quote = None if event.is_dm or turn.regenerate_of is not None else event.message_id
        if turn.regenerate_of is None:
            turn.live = LivePreview(turn.outbox, self.pacer, quote, self.service.secrets)
        try:
            await rest(turn)
        except asyncio.CancelledError:
            if turn.live is not None:
                turn.live.cancel()
            raise
        except Exception:
            log_failure(log, "turn failed in %s", turn.key)
            if not (turn.addressed or event.plausibly_addressed):
                turn.outcome = Outcome("ignored", reason="failed before it was addressed")
            else:
                if not turn.user_stored and turn.regenerate_of is None and event.text.strip():
                    self.pending.keep(event)  # stored by the channel's next turn
                turn.outcome = Outcome("error", APOLOGY, reason="internal")
        outcome = turn.outcome or Outcome("ignored", reason="no stage answered")
        turn.outcome = outcome
        try:
            await self._show(turn, outcome, quote)
        except asyncio.CancelledError:
            for then in turn.shown:
                then(False)
            raise
        except Exception:
            log_failure(log, "could not show a reply in %s", turn.key)
        for then in turn.shown:
            then(True)

    async def _show(self, turn: Turn, outcome: Outcome, quote: str | None) -> None:
        preview = await turn.live.finish() if turn.live is not None else None
        outbox, limits = turn.outbox, turn.outbox.limits
        if outcome.kind == "ignored":
            if preview is not None:
                await outbox.delete(preview)
            return
        if outcome.kind != "reply":
            if turn.regenerate_of is not None:  # the old reply stays as it was
                await outbox.notify(outcome.text)
                return
            edit = (preview,) if preview is not None else ()
            await deliver(outbox, plan(outcome.text, limits, reply_to=quote, edit=edit),
                          self.pacer)
            return
        assert outcome.message_id is not None
        disclose = turn.channel is not None and turn.channel.disclose
        text = compose(outcome.text, outcome.notices, outcome.model_id, disclose, limits)
        reuse = turn.reuse or ((preview,) if preview is not None else ())
        render = plan(text, limits, reply_to=quote, controls=outcome.model_id is not None,
                      edit=reuse)
        message_id, platform = outcome.message_id, turn.event.platform

        async def record(part: int, delivered: str) -> None:
            if turn.recorded[part:part + 1] != (delivered,):  # not stored with the reply
                await self.service.replies.add_delivery(message_id, platform, delivered, part)

        try:
            await deliver(outbox, render, self.pacer, record)
        except SendError:  # stored, not shown: say so once, if the platform lets us
            log_failure(log, "could not send the reply in %s", turn.key)
            if turn.regenerate_of is not None:
                await outbox.notify(APOLOGY)
            else:  # in place of the preview, if one is shown
                await deliver(outbox, plan(APOLOGY, limits, reply_to=quote, edit=reuse[:1]),
                              self.pacer)
