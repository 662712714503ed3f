"""A community's opt-in to NSFW personas (where the platform has no age-restricted flag)."""

from __future__ import annotations

from sqlalchemy import select, update

from .store import Store
from .tables import Community


class NsfwOptIn:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def allowed(self, community_id: int) -> bool:
        async with self.store.session() as s:
            return bool(await s.scalar(select(Community.allow_nsfw)
                                       .where(Community.id == community_id)))

    async def set(self, community_id: int, allowed: bool) -> None:
        async with self.store.session() as s:
            await s.execute(update(Community).where(Community.id == community_id)
                            .values(allow_nsfw=allowed))
            await s.commit()
