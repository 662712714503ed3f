"""Addressed? DMs, mentions, replies to the bot, and every message of an answer-all channel."""

from __future__ import annotations

from ..pipeline import Next, Turn
from ..service import ChatService

EMPTY_HINT = "(Say something and I'll answer — an empty message gets no reply.)"
TEXT_ONLY = "(I can only read text so far — say it in words and I'll answer.)"


class Addressed:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def __call__(self, turn: Turn, rest: Next) -> None:
        event = turn.event
        direct = event.plausibly_addressed or (
            event.reply_to_id is not None
            and await self.service.replies.find(event.platform, event.reply_to_id) is not None)
        if not direct:  # chatter: only an answer-all channel hears it (and no row is made)
            known = await self.service.store.find_channel(event.platform, event.channel_id)
            if known is None or not known.answer_all:
                return turn.end("ignored", reason="not addressed")
        turn.addressed = True
        turn.channel = await self.service.channel(event)
        if not event.text.strip():
            if event.attachments and not direct:
                return turn.end("ignored", reason="attachments only")
            return turn.end("notice", TEXT_ONLY if event.attachments else EMPTY_HINT,
                            reason="no text")
        await rest(turn)
