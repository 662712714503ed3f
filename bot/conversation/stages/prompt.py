"""Prompt: the channel's blend (or the user's experiment arm), persona, lorebook and history
become one `ReplyRequest`."""

from __future__ import annotations

from engines import BlendError, ReplyRequest
from persona import Lorebook, build_conversation

from ..chat_history import chat_message
from ..pipeline import Next, Turn
from ..service import ChatService


class Prompt:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def __call__(self, turn: Turn, rest: Next) -> None:
        channel = turn.channel
        assert channel is not None
        service, options = self.service, self.service.options
        blend = await service.blend_for_reply(channel, turn.arm)
        try:
            service.engine.check(blend)
        except BlendError as exc:
            return turn.end("error", f"This channel's blend cannot answer: {exc}",
                            reason="blend")
        if turn.regenerate_of is None:
            turn.history = await service.store.history(channel.id, options.history_limit)
        choice = await service.persona_of(channel)
        books: list[Lorebook] = []
        if channel.lorebook_id is not None:
            stored = await service.library.lorebook(channel.lorebook_id)
            books = [stored.book] if stored else []
        conversation = build_conversation(
            choice.card, [chat_message(m) for m in turn.history], options.global_system, books)
        turn.request = ReplyRequest(turn.key, conversation, blend, options.sampling,
                                    avoid=turn.avoid)
        await rest(turn)

