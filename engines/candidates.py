"""Several candidate replies for one turn: one from each blend member, or `n` samples of one."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from .base import ChatModel, Generation, SamplingParams
from .gate import BusyError
from .request import AllModelsDownError, Members, ReplyRequest

log = logging.getLogger(__name__)


def plan(members: Members, request: ReplyRequest, samples: int
         ) -> list[tuple[ChatModel, SamplingParams]]:
    """Who writes each candidate: every healthy member of the channel's blend (the models its
    weights keep, else all), or `samples` draws with different seeds when that is one model.

    The channel's `single` model is not used: it may be left over from an earlier mode.
    Members the request avoids (over their spend cap, or the one a redraw replaces) write
    none while another can.
    """
    healthy = members.available_members()
    healthy = [m for m in healthy if m not in request.avoid] or healthy
    weights = request.blend.weights
    writers = [m for m in healthy if weights.get(m, 0.0) > 0] if weights else healthy
    writers = writers or healthy
    if not writers:
        raise AllModelsDownError("none of this channel's models can answer right now")
    params = request.params
    if len(writers) == 1:
        seed = params.seed or 0
        return [(members.models[writers[0]], replace(params, seed=seed + k))
                for k in range(samples)]
    return [(members.models[m], params) for m in writers]


async def generate(members: Members, request: ReplyRequest, samples: int
                   ) -> tuple[list[Generation], list[str]]:
    """(candidates in plan order, ids of members that failed). Members that fail or are busy
    are left out; when none writes anything the error says why."""
    jobs = plan(members, request, samples)
    failed: list[str] = []
    busy: list[str] = []

    async def one(model: ChatModel, params: SamplingParams) -> Generation | None:
        try:
            async with members.turn(model, request.channel):
                generation = await model.generate(request.conversation, params,
                                                  channel=request.channel)
        except BusyError:
            busy.append(model.id)
            return None
        except Exception as exc:
            members.record_failure(model, exc, started=False)
            failed.append(model.id)
            return None
        members.record_success(model)
        return generation

    results = await asyncio.gather(*(one(m, p) for m, p in jobs))
    found = [g for g in results if g is not None]
    if not found:
        if busy:
            raise BusyError(", ".join(busy))
        raise AllModelsDownError(f"no model could write a candidate (tried {', '.join(failed)})")
    return found, sorted(set(failed))
