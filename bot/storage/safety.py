"""The safety tables: access rules, moderation rules, a community's safety settings and
the token usage the quotas count. Rules and settings are cached per community for a few
seconds (a turn reads them on every message); a change made here is seen at once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .store import AlsoWrite, Store, table
from .tables import AccessRule, ModerationRule, SafetySettings, TokenUsage, User


@dataclass(frozen=True, slots=True)
class Rule:
    """An access rule: `channel_id` None for the whole community."""

    effect: str  # allow | deny
    kind: str  # user | role
    subject: str
    channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class Pattern:
    id: int
    kind: str  # word | regex
    pattern: str


@dataclass(frozen=True, slots=True)
class Safety:
    """A community's safety settings (None: the config's default)."""

    modlog_channel: str | None = None
    modlog_text: bool = False
    user_tokens: int | None = None
    community_tokens: int | None = None
    role_tokens: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Use:
    """Tokens and cost, as summed by a usage query."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class SafetyStore:
    CACHE_TTL_S = 5.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, int], tuple[Any, float]] = {}

    def _cached(self, key: tuple[str, int]) -> Any:
        hit = self._cache.get(key)
        return hit[0] if hit is not None and hit[1] >= time.monotonic() else None

    def _keep(self, key: tuple[str, int], value: Any) -> Any:
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (value, time.monotonic() + self.CACHE_TTL_S)
        return value

    def _changed(self, kind: str, community_id: int) -> None:
        self._cache.pop((kind, community_id), None)

    # ---- access ---------------------------------------------------------------------------

    async def rules(self, community_id: int) -> tuple[Rule, ...]:
        cached = self._cached(("rules", community_id))
        if cached is not None:
            return cached
        async with self.store.session() as s:
            rows = (await s.scalars(select(AccessRule)
                                    .where(AccessRule.community_id == community_id)
                                    .order_by(AccessRule.id))).all()
        return self._keep(("rules", community_id), tuple(
            Rule(r.effect, r.kind, r.subject, r.channel_id) for r in rows))

    async def add_rule(self, community_id: int, rule: Rule) -> bool:
        """False: the rule was there already. An allow replaces a deny of the same subject
        and scope, and the other way round."""
        self._changed("rules", community_id)
        async with self.store.session() as s:
            scope = (AccessRule.community_id == community_id, AccessRule.kind == rule.kind,
                     AccessRule.subject == rule.subject,
                     AccessRule.channel_id.is_(None) if rule.channel_id is None
                     else AccessRule.channel_id == rule.channel_id)
            rows = (await s.scalars(select(AccessRule).where(*scope))).all()
            if any(r.effect == rule.effect for r in rows):
                return False
            await s.execute(delete(AccessRule).where(*scope))
            s.add(AccessRule(community_id=community_id, channel_id=rule.channel_id,
                             effect=rule.effect, kind=rule.kind, subject=rule.subject))
            try:
                await s.commit()
            except IntegrityError:  # added concurrently
                await s.rollback()
                return False
        return True

    async def remove_rule(self, community_id: int, rule: Rule) -> bool:
        self._changed("rules", community_id)
        async with self.store.session() as s:
            done = await s.execute(delete(AccessRule).where(
                AccessRule.community_id == community_id, AccessRule.effect == rule.effect,
                AccessRule.kind == rule.kind, AccessRule.subject == rule.subject,
                AccessRule.channel_id.is_(None) if rule.channel_id is None
                else AccessRule.channel_id == rule.channel_id))
            await s.commit()
        return bool(getattr(done, "rowcount", 0))

    # ---- moderation -----------------------------------------------------------------------

    async def patterns(self, community_id: int) -> tuple[Pattern, ...]:
        cached = self._cached(("patterns", community_id))
        if cached is not None:
            return cached
        async with self.store.session() as s:
            rows = (await s.scalars(select(ModerationRule)
                                    .where(ModerationRule.community_id == community_id)
                                    .order_by(ModerationRule.id))).all()
        return self._keep(("patterns", community_id),
                          tuple(Pattern(r.id, r.kind, r.pattern) for r in rows))

    async def add_pattern(self, community_id: int, kind: str, pattern: str) -> bool:
        """False: the same entry is there already."""
        if any(p.kind == kind and p.pattern == pattern
               for p in await self.patterns(community_id)):
            return False
        self._changed("patterns", community_id)
        async with self.store.session() as s:
            s.add(ModerationRule(community_id=community_id, kind=kind, pattern=pattern))
            await s.commit()
        return True

    async def remove_pattern(self, community_id: int, pattern_id: int) -> None:
        self._changed("patterns", community_id)
        async with self.store.session() as s:
            await s.execute(delete(ModerationRule).where(
                ModerationRule.community_id == community_id, ModerationRule.id == pattern_id))
            await s.commit()

    # ---- settings -------------------------------------------------------------------------

    async def settings(self, community_id: int) -> Safety:
        cached = self._cached(("settings", community_id))
        if cached is not None:
            return cached
        async with self.store.session() as s:
            row = await s.get(SafetySettings, community_id)
        found = Safety() if row is None else Safety(
            row.modlog_channel, bool(row.modlog_text), row.user_tokens, row.community_tokens,
            {str(k): int(v) for k, v in (row.role_tokens or {}).items()})
        return self._keep(("settings", community_id), found)

    async def update(self, community_id: int, **values: Any) -> Safety:
        """Set `modlog_channel`, `modlog_text`, `user_tokens`, `community_tokens` or
        `role_tokens` (a whole mapping)."""
        self._changed("settings", community_id)
        async with self.store.session() as s:
            if await s.get(SafetySettings, community_id) is None:
                s.add(SafetySettings(community_id=community_id))
                try:
                    await s.commit()
                except IntegrityError:
                    await s.rollback()
            await s.execute(update(SafetySettings)
                            .where(SafetySettings.community_id == community_id)
                            .values(**values))
            await s.commit()
        self._changed("settings", community_id)
        return await self.settings(community_id)

    # ---- usage ----------------------------------------------------------------------------

    async def add_usage(self, writes: Sequence[AlsoWrite]) -> None:
        """Commit `counting` writes in a transaction of their own (a reply's tokens are
        counted in the reply's, where there is one)."""
        async with self.store.writing(), self.store.engine.begin() as conn:
            for write in writes:
                await write(conn, 0)

    async def _sum(self, day: int, *where: Any) -> Use:
        async with self.store.session() as s:
            row = (await s.execute(select(
                func.coalesce(func.sum(TokenUsage.prompt_tokens), 0),
                func.coalesce(func.sum(TokenUsage.completion_tokens), 0),
                func.coalesce(func.sum(TokenUsage.cost), 0.0))
                .where(TokenUsage.day == day, *where))).one()
        return Use(int(row[0]), int(row[1]), float(row[2]))

    async def user_use(self, day: int, community_id: int, user_id: int) -> Use:
        return await self._sum(day, TokenUsage.community_id == community_id,
                               TokenUsage.user_id == user_id)

    async def community_use(self, day: int, community_id: int) -> Use:
        return await self._sum(day, TokenUsage.community_id == community_id)

    async def model_spend(self, day: int, model_id: str) -> float:
        """What `model_id` cost on `day`, every community together."""
        return (await self._sum(day, TokenUsage.model_id == model_id)).cost

    async def top_users(self, day: int, community_id: int,
                        limit: int = 5) -> list[tuple[str, int]]:
        """(display name, tokens) of the community's biggest users on `day`."""
        total = func.sum(TokenUsage.prompt_tokens + TokenUsage.completion_tokens)
        async with self.store.session() as s:
            rows = (await s.execute(
                select(User.display_name, total).join(User, User.id == TokenUsage.user_id)
                .where(TokenUsage.day == day, TokenUsage.community_id == community_id)
                .group_by(User.id, User.display_name).order_by(total.desc())
                .limit(limit))).all()
        return [(str(name), int(tokens)) for name, tokens in rows]


def counting(day: int, community_id: int, user_id: int, model_id: str, prompt_tokens: int,
             completion_tokens: int, cost: float) -> AlsoWrite:
    """The write that adds tokens and cost to a user's day with a model (one upsert), for
    `Store.add_message(also=...)`: a reply and what it cost commit together."""
    async def write(conn: AsyncConnection, _message_id: int) -> None:
        values = {"day": day, "community_id": community_id, "user_id": user_id,
                  "model_id": model_id, "prompt_tokens": prompt_tokens,
                  "completion_tokens": completion_tokens, "cost": cost}
        await conn.execute(_UPSERT_USAGE[conn.dialect.name], values)
    return write


def _upsert(dialect: Any) -> Any:
    statement = dialect.insert(_USAGE)
    return statement.on_conflict_do_update(
        index_elements=["day", "community_id", "user_id", "model_id"],
        set_={name: _USAGE.c[name] + statement.excluded[name]
              for name in ("prompt_tokens", "completion_tokens", "cost")})


_USAGE = table(TokenUsage)
_UPSERT_USAGE = {"sqlite": _upsert(sqlite), "postgresql": _upsert(postgresql)}
