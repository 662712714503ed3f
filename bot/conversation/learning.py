"""The `learned` mode's reward hook: the core tells it about replies, user messages and
feedback as it records them; it keeps each community's evidence (`bot.storage.learned`).

The amounts are those of `bot.analytics.learned.rebuild`, which recomputes the evidence
from the recorded events when the table has none for a community (lost, or older than the
mode). A reply counts as a loss when sent and turns into a win if its user continues within
5 minutes; 👍 adds a win, 👎 and regenerate a loss, each discounted by the reply's age (in
community replies). Rewards for a model that is no longer in the blend are ignored.

A community's evidence is built (from its events) the first time `learned` needs it; until
then the hook does nothing there. Whether a community has evidence is cached for a few
seconds (like the Store's channel states), so communities that never use the mode pay no
query on most messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from engines import BlendedEngine
from engines.bandit import Arm, shares

from ..analytics.learned import RewardWeights, rebuild
from ..analytics.model_stats import DEFAULT_WINDOW
from ..storage import Store
from ..storage.events import Events
from ..storage.learned import LearnedArms

log = logging.getLogger(__name__)


class Learning:
    KNOWN_TTL_S = 5.0  # how long "this community has (no) evidence" is believed

    def __init__(self, store: Store, engine: BlendedEngine, weights: RewardWeights) -> None:
        self.arms_table = LearnedArms(store)
        self.events = Events(store)
        self.engine = engine
        self.weights = weights
        self._known: dict[int, tuple[bool, float]] = {}  # community -> (has evidence, until)

    async def _has_evidence(self, community_id: int) -> bool:
        known = self._known.get(community_id)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        has = await self.arms_table.arms(community_id) is not None
        self._remember(community_id, has)
        return has

    def _remember(self, community_id: int, has: bool) -> None:
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[community_id] = (has, time.monotonic() + self.KNOWN_TTL_S)

    @property
    def discount(self) -> float:
        return self.engine.bandit.discount

    async def arms(self, community_id: int) -> dict[str, Arm]:
        """The community's evidence, rebuilt from its recorded events if none is stored."""
        arms = await self.arms_table.arms(community_id)
        if arms is None:
            arms = await self.rebuild(community_id)
        self._remember(community_id, True)
        return arms

    async def rebuild(self, community_id: int) -> dict[str, Arm]:
        """Recompute the community's evidence from its recorded events and store it."""
        where = await self.arms_table.community(community_id)
        events = await self.events.export(where[1], where[0]) if where else []
        arms, steps = rebuild(events, self.engine.model_ids, self.discount, self.weights)
        await self.arms_table.replace(community_id, arms, steps)
        return arms

    async def shares(self, community_id: int, members: Sequence[str]) -> dict[str, float]:
        """Each member's chance of answering the next reply now."""
        return shares(members, await self.arms(community_id), self.engine.bandit)

    # ---- the hook: called by `ChatService` after each write ---------------------------

    async def replied(self, community_id: int, model_id: str | None) -> None:
        """A reply was stored (not yet known to engage: a loss until its user continues)."""
        if model_id is None:
            return  # a greeting: not a pull
        await self._safely(self._replied(community_id, model_id))

    async def _replied(self, community_id: int, model_id: str) -> None:
        if not await self._has_evidence(community_id):
            return
        await self.arms_table.step(community_id, self.discount, self._member(model_id),
                                   self.weights.continued)  # none stored: nothing to do

    async def user_wrote(self, community_id: int, channel_id: int, user_id: int,
                         message_id: int) -> None:
        """A user message was stored: the replies it continues become wins."""
        await self._safely(self._user_wrote(community_id, channel_id, user_id, message_id))

    async def _user_wrote(self, community_id: int, channel_id: int, user_id: int,
                          message_id: int) -> None:
        if not await self._has_evidence(community_id):
            return
        w = self.weights.continued
        for reply_id, model_id in await self.arms_table.continued(
                channel_id, user_id, message_id, DEFAULT_WINDOW):
            if self._member(model_id) is None:
                continue
            f = self.discount ** await self.arms_table.age(community_id, reply_id)
            await self.arms_table.credit(community_id, model_id, w * f, -w * f)

    async def feedback(self, reply_id: int, kind: str, sign: int = 1) -> None:
        """Feedback on a reply was added (`sign` 1) or taken back (-1)."""
        await self._safely(self._feedback(reply_id, kind, sign))

    async def _feedback(self, reply_id: int, kind: str, sign: int) -> None:
        found = await self.arms_table.reply(reply_id)
        if found is None or self._member(found[1]) is None:
            return
        community_id, model_id = found
        if not await self._has_evidence(community_id):
            return
        f = sign * self.discount ** await self.arms_table.age(community_id, reply_id)
        wins, losses = self.weights.feedback(kind)
        await self.arms_table.credit(community_id, model_id, wins * f, losses * f)

    def _member(self, model_id: str) -> str | None:
        """The model if it is still in the blend, else None (its rewards are ignored)."""
        return model_id if model_id in self.engine.models else None

    async def _safely(self, work: object) -> None:
        """Learning never breaks a turn: a failure is logged, the reply goes on."""
        try:
            await work  # type: ignore[misc]
        except Exception:
            log.exception("learned-mode update failed")
