"""Quota: each user's and each community's daily token budget (a Discord role may give its
members another), and each priced model's daily spend cap. Over a budget: a polite notice
with the reset time and no model call; a member over its cap is not drawn (none left: a
notice). What a reply cost is counted in the transaction that stores it (a reply written
but not stored, such as a withheld one, is counted after)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from engines import Generation

from ...storage.safety import SafetyStore, counting
from ...storage.store import AlsoWrite
from ..pipeline import Next, Turn
from ..safety.options import SafetyOptions
from ..service import ChatService

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def now() -> datetime:
    return datetime.now(UTC)


def today(clock: Clock = now) -> date:
    return clock().astimezone(UTC).date()


def resets(clock: Clock = now) -> str:
    """When the day's budgets start afresh: "00:00 UTC (in 3 h 5 min)"."""
    at = clock().astimezone(UTC)
    midnight = datetime.combine(at.date() + timedelta(days=1), time(), UTC)
    minutes = max(1, int((midnight - at).total_seconds() // 60))
    left = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return f"00:00 UTC (in {left})"


def spent_per_model(generation: Generation) -> dict[str, tuple[int, int]]:
    """(prompt, completion) tokens per model a reply cost: every candidate of a ranked
    reply, else the reply itself."""
    if not generation.candidates:
        return {generation.model_id: (generation.prompt_tokens, generation.completion_tokens)}
    spent: dict[str, tuple[int, int]] = {}
    for c in generation.candidates:
        p, k = spent.get(c.model_id, (0, 0))
        spent[c.model_id] = (p + c.prompt_tokens, k + c.completion_tokens)
    return spent


class Quota:
    def __init__(self, service: ChatService, safety: SafetyStore, options: SafetyOptions,
                 clock: Clock = now) -> None:
        self.service = service
        self.safety = safety
        self.options = options
        self.clock = clock

    async def budgets(self, turn: Turn) -> tuple[int | None, int | None]:
        """(this user's, this community's) daily budget in tokens (None: no limit)."""
        assert turn.channel is not None
        settings = await self.safety.settings(turn.channel.community_id)
        by_role = [settings.role_tokens[r] for r in turn.event.role_ids
                   if r in settings.role_tokens]
        user = max(by_role) if by_role else (
            settings.user_tokens if settings.user_tokens is not None
            else self.options.user_tokens)
        community = (settings.community_tokens if settings.community_tokens is not None
                     else self.options.community_tokens)
        return user, community

    async def __call__(self, turn: Turn, rest: Next) -> None:
        event, channel = turn.event, turn.channel
        assert channel is not None
        day = today(self.clock).toordinal()
        user_budget, community_budget = await self.budgets(turn)
        user_id = await self.service.store.ensure_user(event.platform, event.user_id,
                                                       event.user_name)
        over = None
        if user_budget is not None and (
                await self.safety.user_use(day, channel.community_id, user_id)
        ).tokens >= user_budget:
            over = f"You've used your {user_budget:,} tokens for today here"
        elif community_budget is not None and (
                await self.safety.community_use(day, channel.community_id)
        ).tokens >= community_budget:
            over = f"This community has used its {community_budget:,} tokens for today"
        if over is not None and not await self._exempt(turn):
            return turn.end("notice", f"({over}. Budgets reset at {resets(self.clock)}.)",
                            reason="over budget")
        capped = await self._capped(day)
        members = self._members(turn)
        if capped and all(m in capped for m in members):
            return turn.end("notice", "(My models have reached today's spending limit. "
                            f"They're back at {resets(self.clock)}.)", reason="spend cap")
        turn.avoid = tuple(m for m in members if m in capped)

        async def count_with_reply(conn: AsyncConnection, message_id: int) -> None:
            assert turn.generation is not None
            for write in self._writes(day, channel.community_id, user_id, turn.generation):
                await write(conn, message_id)

        turn.also.append(count_with_reply)
        await rest(turn)
        stored = turn.outcome is not None and turn.outcome.kind == "reply"
        if turn.generation is not None and not stored:  # written: counted, shown or not
            await self._count(day, channel.community_id, user_id, turn.generation)

    async def _exempt(self, turn: Turn) -> bool:
        if not self.options.admins_exempt:
            return False
        if turn.event.is_admin:
            return True
        try:
            return turn.ask_admin is not None and await turn.ask_admin()
        except Exception as exc:  # the platform could not say: held to the budget
            log.warning("quota: could not ask whether %s is an admin: %s", turn.key, exc)
            return False

    async def _capped(self, day: int) -> set[str]:
        capped = set()
        for model_id, price in self.options.prices.items():
            if price.daily_cap is not None and \
                    await self.safety.model_spend(day, model_id) >= price.daily_cap:
                capped.add(model_id)
        return capped

    def _members(self, turn: Turn) -> list[str]:
        assert turn.channel is not None
        blend, engine = self.service.blend_of(turn.channel), self.service.engine
        if blend.mode == "single":
            return [blend.model_id or engine.model_ids[0]]
        return list(engine.model_ids)

    def _writes(self, day: int, community_id: int, user_id: int,
                generation: Generation) -> list[AlsoWrite]:
        writes = []
        for model_id, (prompt, completion) in spent_per_model(generation).items():
            price = self.options.prices.get(model_id)
            cost = price.cost(prompt, completion) if price is not None else 0.0
            writes.append(counting(day, community_id, user_id, model_id, prompt, completion,
                                   cost))
        return writes

    async def _count(self, day: int, community_id: int, user_id: int,
                     generation: Generation) -> None:
        try:
            await self.safety.add_usage(self._writes(day, community_id, user_id, generation))
        except Exception as exc:  # the turn goes on: the count is lost
            log.warning("quota: could not count a reply's tokens: %s", exc)
