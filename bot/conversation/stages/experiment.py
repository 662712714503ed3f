"""Experiment arm: while the community runs an experiment, the user's reply is made with
their arm's blend (assigned on first sight), whatever channel they speak in."""

from __future__ import annotations

from ..pipeline import Next, Turn
from ..service import ChatService


class ExperimentArm:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def __call__(self, turn: Turn, rest: Next) -> None:
        assert turn.channel is not None
        turn.arm = await self.service.experiments.blend_for(turn.channel, turn.event)
        await rest(turn)
