"""`best_of_n` and `fuse`: several candidates per reply, compared by the PairRanker.

`best_of_n` sends the best candidate; `fuse` asks a blend model to merge the top K into one
reply (GenFuser-style) and sends the best candidate instead when the fusion is empty or
degenerate. Both return every candidate with its rank and score. When the ranker cannot be
loaded, the reply is made by `uniform` instead, with a logged warning. Streaming yields the
finished reply in one piece: candidates are written in full before any is chosen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from . import candidates as cands
from .base import Candidate, Generation
from .draw_one import DrawOneMode
from .fuser import degenerate, fusion_conversation
from .policies import DRAW_ONE_POLICIES
from .ranker.aggregate import Ranking
from .ranker.meta import RankerLoadError
from .ranker.texts import format_source
from .request import Members, Mode, ReplyRequest

log = logging.getLogger(__name__)
FUSE_TEMPERATURE = 0.3


class Scorer(Protocol):
    def rank(self, source: str, candidates: Sequence[str], aggregation: str = ...
             ) -> Ranking: ...


class RankerSource(Protocol):
    async def get(self) -> Scorer: ...


@dataclass(frozen=True, slots=True)
class RankedOptions:
    aggregation: str = "bubble"  # bubble | max_logits | max_wins
    samples: int = 3  # candidates when the channel's blend is one model
    top_k: int = 3  # candidates `fuse` merges
    fuser: str | None = None  # the model that fuses; default the first healthy member


class _RankedMode:
    def __init__(self, ranker: RankerSource, options: RankedOptions | None = None) -> None:
        self.ranker = ranker
        self.options = options or RankedOptions()
        self.fallback = DrawOneMode(DRAW_ONE_POLICIES["uniform"])

    async def _scorer(self, request: ReplyRequest) -> Scorer | None:
        try:
            return await self.ranker.get()
        except RankerLoadError as exc:
            log.warning("%s for %s answered as uniform: the ranker is unavailable (%s)",
                        request.blend.mode, request.channel, exc)
            return None

    async def generate(self, members: Members, request: ReplyRequest) -> Generation:
        scorer = await self._scorer(request)
        if scorer is None:
            return await self.fallback.generate(members, request)
        return await self._reply(members, request, scorer)

    async def stream(self, members: Members, request: ReplyRequest
                     ) -> AsyncIterator[str | Generation]:
        scorer = await self._scorer(request)
        if scorer is None:
            async for item in self.fallback.stream(members, request):
                yield item
            return
        generation = await self._reply(members, request, scorer)
        if generation.text:
            yield generation.text
        yield generation

    async def _reply(self, members: Members, request: ReplyRequest, scorer: Scorer
                     ) -> Generation:
        raise NotImplementedError

    async def _ranked(self, members: Members, request: ReplyRequest, scorer: Scorer
                      ) -> tuple[list[Generation], Ranking, list[str]]:
        """The candidates, their ranking, and the members that failed to write one."""
        found, failed = await cands.generate(members, request, self.options.samples)
        texts = [g.text for g in found]
        source = format_source(request.conversation.history)
        try:
            async with members.cpu_turn(request.channel):  # CPU work, like a local generation
                ranking = await asyncio.to_thread(scorer.rank, source, texts,
                                                  self.options.aggregation)
        except Exception as exc:
            log.warning("ranking failed for %s; sending the first candidate: %s",
                        request.channel, exc, exc_info=exc)
            ranking = Ranking(tuple(range(len(texts))), (None,) * len(texts))
        return found, ranking, failed


def _candidates(found: Sequence[Generation], ranking: Ranking) -> tuple[Candidate, ...]:
    return tuple(
        Candidate(g.model_id, g.text, ranking.rank_of(i), ranking.scores[i], g.prompt_tokens,
                  g.completion_tokens, g.latency_s)
        for i, g in enumerate(found))


class BestOfNMode(_RankedMode):
    """N candidates for the same history; the ranker's best is sent."""

    async def _reply(self, members: Members, request: ReplyRequest, scorer: Scorer
                     ) -> Generation:
        started = time.perf_counter()
        found, ranking, failed = await self._ranked(members, request, scorer)
        best = found[ranking.best]
        return replace(best, latency_s=time.perf_counter() - started,
                       failed_over_from=tuple(failed), candidates=_candidates(found, ranking))


class FuseMode(_RankedMode):
    """The top K candidates merged into one reply by a model of the blend."""

    async def _reply(self, members: Members, request: ReplyRequest, scorer: Scorer
                     ) -> Generation:
        started = time.perf_counter()
        found, ranking, failed = await self._ranked(members, request, scorer)
        ranked = _candidates(found, ranking)
        best = replace(found[ranking.best], failed_over_from=tuple(failed), candidates=ranked)
        top = [found[i].text for i in ranking.order if found[i].text.strip()][:self.options.top_k]
        fused = await self._fuse(members, request, top) if len(top) > 1 else None
        if fused is None:
            return replace(best, latency_s=time.perf_counter() - started)
        return replace(fused, latency_s=time.perf_counter() - started,
                       failed_over_from=tuple(failed), candidates=ranked)

    async def _fuse(self, members: Members, request: ReplyRequest, top: list[str]
                    ) -> Generation | None:
        healthy = members.available_members()
        healthy = [m for m in healthy if m not in request.avoid] or healthy
        wanted = self.options.fuser
        model_id = wanted if wanted in healthy else (healthy[0] if healthy else None)
        if model_id is None:
            return None
        model = members.models[model_id]
        conversation = fusion_conversation(request.conversation, top)
        params = replace(request.params, temperature=FUSE_TEMPERATURE)
        try:
            async with members.turn(model, request.channel):
                fused = await model.generate(conversation, params, channel=request.channel)
        except Exception as exc:
            members.record_failure(model, exc, started=False)
            log.warning("fusion by %s failed for %s; sending the best candidate", model_id,
                        request.channel)
            return None
        members.record_success(model)
        why = degenerate(fused.text, top)
        if why is not None:
            log.info("fusion by %s %s; sending the best candidate", model_id, why)
            return None
        return fused


def ranked_modes(ranker: RankerSource, options: RankedOptions | None = None
                 ) -> dict[str, Mode]:
    """The ranked modes by name, for `BlendedEngine`'s mode table."""
    return {"best_of_n": BestOfNMode(ranker, options), "fuse": FuseMode(ranker, options)}
