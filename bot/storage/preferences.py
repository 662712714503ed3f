"""Preference pairs from the bot's own feedback, for `blendbot ranker train`.

Replies to the same user turn form a chain (each regenerated reply points at the one that
replaced it). Within a chain: a reply with 👍 (and no 👎) beats one with 👎 (and no 👍), and the
reply that was kept beats each one that was regenerated, unless votes say otherwise. And a
`best_of_n` reply that got 👍 (and no 👎) beats each candidate the ranker put below it.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engines.base import ChatMessage
from engines.ranker.pairs import PreferencePair, keyed
from engines.ranker.texts import MAX_SOURCE_TURNS, format_source

from .store import Store
from .tables import CandidateRow, Channel, Feedback, Message


async def feedback_pairs(store: Store, max_turns: int = MAX_SOURCE_TURNS,
                         community_id: int | None = None) -> list[PreferencePair]:
    """Every pair the stored feedback implies (of one community, or all), with the
    conversation before the turn as source."""
    async with store.session() as s:
        query = select(Message).where(Message.role == "assistant",
                                      Message.replaced_by_id.is_not(None))
        if community_id is not None:
            query = query.join(Channel, Channel.id == Message.channel_id).where(
                Channel.community_id == community_id)
        replaced = (await s.execute(query)).scalars().all()
        pairs = await _candidate_pairs(s, max_turns, community_id)
        if not replaced:
            return pairs
        ids = {m.id for m in replaced} | {int(m.replaced_by_id) for m in replaced
                                           if m.replaced_by_id is not None}
        rows = {m.id: m for m in (await s.execute(
            select(Message).where(Message.id.in_(ids)))).scalars()}
        votes: dict[int, set[str]] = defaultdict(set)
        for message_id, kind in (await s.execute(
                select(Feedback.message_id, Feedback.kind)
                .where(Feedback.message_id.in_(ids), Feedback.kind.in_(("up", "down"))))).all():
            votes[message_id].add(kind)
        for chain in _chains(rows):
            found = _prefer(chain, votes)
            if not found:
                continue
            source = await _source(s, chain[0], max_turns)
            texts = {m.id: m.text for m in chain}
            pairs += [keyed(source, texts[a], texts[b], ("feedback", a, b)) for a, b in found
                      if texts[a].strip() != texts[b].strip()]
        return pairs


async def _candidate_pairs(session: AsyncSession, max_turns: int, community_id: int | None
                           ) -> list[PreferencePair]:
    """A liked `best_of_n` reply over each candidate ranked below it."""
    query = (select(Message).join(Feedback, Feedback.message_id == Message.id)
             .where(Message.mode == "best_of_n", Feedback.kind == "up").distinct())
    if community_id is not None:
        query = query.join(Channel, Channel.id == Message.channel_id).where(
            Channel.community_id == community_id)
    liked = (await session.execute(query)).scalars().all()
    if not liked:
        return []
    ids = [m.id for m in liked]
    disliked = set((await session.execute(
        select(Feedback.message_id).where(Feedback.message_id.in_(ids),
                                          Feedback.kind == "down"))).scalars())
    pairs = []
    for message in liked:
        if message.id in disliked:
            continue
        below = (await session.execute(
            select(CandidateRow).where(CandidateRow.message_id == message.id,
                                       CandidateRow.rank > 1)
            .order_by(CandidateRow.rank, CandidateRow.id))).scalars().all()
        if not below:
            continue
        source = await _source(session, message, max_turns)
        pairs += [keyed(source, message.text, c.text, ("candidate", message.id, c.id))
                  for c in below if c.text.strip() and c.text.strip() != message.text.strip()]
    return pairs


def _chains(rows: dict[int, Message]) -> list[list[Message]]:
    """Replies to one user turn, oldest first, following `replaced_by_id`."""
    targets = {m.replaced_by_id for m in rows.values()}
    chains = []
    for head in (m for m in rows.values() if m.id not in targets):
        chain, seen = [head], {head.id}
        while chain[-1].replaced_by_id is not None and chain[-1].replaced_by_id in rows \
                and chain[-1].replaced_by_id not in seen:
            chain.append(rows[int(chain[-1].replaced_by_id)])
            seen.add(chain[-1].id)
        if len(chain) > 1:
            chains.append(chain)
    return sorted(chains, key=lambda c: c[0].id)


def _prefer(chain: list[Message], votes: dict[int, set[str]]) -> list[tuple[int, int]]:
    """(preferred id, other id) pairs within one chain."""
    liked = [m.id for m in chain if votes.get(m.id) == {"up"}]
    disliked = [m.id for m in chain if votes.get(m.id) == {"down"}]
    found = [(a, b) for a in liked for b in disliked]
    kept = chain[-1].id if chain[-1].replaced_by_id is None else None
    if kept is not None and kept not in disliked:
        found += [(kept, m.id) for m in chain[:-1]
                  if m.id not in liked and (kept, m.id) not in found]
    return found


async def _source(session: AsyncSession, first: Message, max_turns: int) -> str:
    reset = await session.scalar(select(Channel.reset_after_id)
                                 .where(Channel.id == first.channel_id)) or 0
    query = (select(Message.role, Message.text)
             .where(Message.channel_id == first.channel_id, Message.id < first.id,
                    Message.replaced_by_id.is_(None))
             .order_by(Message.id.desc()).limit(max_turns))
    if reset < first.id:
        query = query.where(Message.id > reset)
    rows = list(reversed((await session.execute(query)).all()))
    return format_source([ChatMessage("user" if role == "user" else "assistant", text)
                          for role, text in rows], max_turns)
