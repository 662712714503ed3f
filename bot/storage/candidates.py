"""Candidates of ranked replies: stored with the reply they competed for (training data)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from engines.base import Candidate

from .store import AlsoWrite, Store, table
from .tables import CandidateRow


def storing(candidates: Sequence[Candidate]) -> AlsoWrite:
    """The write that stores every candidate with their reply, for `Store.add_message`."""
    async def write(conn: AsyncConnection, message_id: int) -> None:
        await conn.execute(insert(table(CandidateRow)), [
            {"message_id": message_id, "model_id": c.model_id, "text": c.text,
             "rank": c.rank, "score": c.score, "prompt_tokens": c.prompt_tokens,
             "completion_tokens": c.completion_tokens, "latency_ms": round(c.latency_s * 1000)}
            for c in candidates])
    return write


async def candidates_of(store: Store, message_id: int) -> list[Candidate]:
    """A reply's candidates, best first."""
    async with store.session() as s:
        rows = (await s.execute(select(CandidateRow).where(CandidateRow.message_id == message_id)
                                .order_by(CandidateRow.rank, CandidateRow.id))).scalars().all()
    return [Candidate(r.model_id, r.text, r.rank, r.score, r.prompt_tokens or 0,
                      r.completion_tokens or 0, (r.latency_ms or 0) / 1000) for r in rows]
