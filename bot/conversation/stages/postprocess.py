"""Post-process: what the model wrote, made fit to send (no empty reply)."""

from __future__ import annotations

from dataclasses import replace

from ..pipeline import Next, Turn

EMPTY_REPLY = "…"


class PostProcess:
    async def __call__(self, turn: Turn, rest: Next) -> None:
        assert turn.generation is not None
        text = turn.generation.text.strip() or EMPTY_REPLY
        if text != turn.generation.text:
            turn.generation = replace(turn.generation, text=text)
        await rest(turn)
