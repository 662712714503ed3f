"""Post-process: what the model wrote, made fit to send and to store (no empty reply, no
token or API key; reasoning blocks went when it was written, in `Generate`)."""

from __future__ import annotations

from dataclasses import replace

from ..pipeline import Next, Turn
from ..safety.hygiene import Secrets

EMPTY_REPLY = "…"


class PostProcess:
    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets

    async def __call__(self, turn: Turn, rest: Next) -> None:
        assert turn.generation is not None
        text = self.secrets(turn.generation.text).strip() or EMPTY_REPLY
        if text != turn.generation.text:
            turn.generation = replace(turn.generation, text=text)
        await rest(turn)
