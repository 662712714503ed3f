"""Daily privacy upkeep in the service: blank message text older than `retention_days`, and
delete the communities the bot left more than `community_grace_days` ago.

Every process may run it (each step is idempotent); it runs once at start, then daily."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from .storage import Store
from .storage.privacy import Privacy
from .storage.tables import utcnow

log = logging.getLogger(__name__)
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class UpkeepDone:
    purged: int  # messages whose text was blanked
    communities: int  # communities deleted after their grace period


class Upkeep:
    def __init__(self, store: Store, retention_days: int | None, grace_days: int, *,
                 every_s: float = DAY_S) -> None:
        self.privacy = Privacy(store)
        self.retention_days = retention_days
        self.grace_days = grace_days
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: datetime | None = None) -> UpkeepDone:
        now = now or utcnow()
        purged = 0
        if self.retention_days is not None:
            purged = await self.privacy.purge_text(now - timedelta(days=self.retention_days))
        gone = await self.privacy.departed(now - timedelta(days=self.grace_days))
        for community in gone:
            await self.privacy.delete_community(community)
        if purged or gone:
            log.info("privacy upkeep: blanked %d old messages, deleted %d communities",
                     purged, len(gone))
        return UpkeepDone(purged, len(gone))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="privacy-upkeep")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the database is away: try again at the next round
                log.exception("privacy upkeep failed")
            await asyncio.sleep(self.every_s)
