"""Several candidate replies for one turn: one from each blend member, or `n` samples of one."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from .base import ChatModel, Generation, SamplingParams
from .gate import BusyError

if TYPE_CHECKING:
    from .blended import BlendedEngine, ReplyRequest

log = logging.getLogger(__name__)


def plan(engine: BlendedEngine, request: ReplyRequest, samples: int
         ) -> list[tuple[ChatModel, SamplingParams]]:
    """Who writes each candidate: every healthy member of the channel's blend (the models its
    weights keep, else all), or `samples` draws with different seeds when that is one model.

    The channel's `single` model is not used: it may be left over from an earlier mode.
    """
    from .blended import AllModelsDownError

    healthy = engine.available_members()
    weights = request.blend.weights
    members = [m for m in healthy if weights.get(m, 0.0) > 0] if weights else healthy
    members = members or healthy
    if not members:
        raise AllModelsDownError("none of this channel's models can answer right now")
    params = request.params
    if len(members) == 1:
        seed = params.seed or 0
        return [(engine.models[members[0]], replace(params, seed=seed + k))
                for k in range(samples)]
    return [(engine.models[m], params) for m in members]


async def generate(engine: BlendedEngine, request: ReplyRequest, samples: int
                   ) -> tuple[list[Generation], list[str]]:
    """(candidates in plan order, ids of members that failed). Members that fail or are busy
    are left out; when none writes anything the error says why."""
    from .blended import AllModelsDownError

    jobs = plan(engine, request, samples)
    failed: list[str] = []
    busy: list[str] = []

    async def one(model: ChatModel, params: SamplingParams) -> Generation | None:
        try:
            async with engine.turn(model, request.channel):
                generation = await model.generate(request.conversation, params,
                                                  channel=request.channel)
        except BusyError:
            busy.append(model.id)
            return None
        except Exception as exc:
            engine.record_failure(model, exc, started=False)
            failed.append(model.id)
            return None
        engine.record_success(model)
        return generation

    results = await asyncio.gather(*(one(m, p) for m, p in jobs))
    found = [g for g in results if g is not None]
    if not found:
        if busy:
            raise BusyError(", ".join(busy))
        raise AllModelsDownError(f"no model could write a candidate (tried {', '.join(failed)})")
    return found, sorted(set(failed))
