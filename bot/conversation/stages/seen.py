"""Seen before? A message the platform delivers again (a resumed Discord session, a retried
Telegram webhook) is recognised by its platform id and gets no second reply.

This stage knows the messages kept in memory while the database was away; the stored ones are
recognised by the database's unique key when `RecordMessage` stores the message (one round
trip, not a lookup and then a write), and by `RateLimit` before it refuses one.
"""

from __future__ import annotations

from ..pending import PendingMessages
from ..pipeline import Next, Turn


class Seen:
    def __init__(self, pending: PendingMessages) -> None:
        self.pending = pending

    async def __call__(self, turn: Turn, rest: Next) -> None:
        message_id = turn.event.message_id
        if message_id is not None and self.pending.has(turn.key, message_id):
            return turn.end("ignored", reason="redelivered")
        await rest(turn)
