"""The `learned` mode's evidence recomputed from recorded events (when its table is lost).

Each bot reply with a model is one pull of its member, and one step of the community's
discount: after `n` replies, a reply that was the `k`-th counts `discount ** (n - 1 - k)`.
Its outcome, weighed by `RewardWeights`:

* continued (the user it answered wrote again in the channel within 5 minutes, as in
  `bot.analytics.model_stats`): `continued` toward wins, else toward losses;
* 👍: `up` toward wins; 👎: `down` toward losses; regenerate: `regenerate` toward losses.

The core's online updates (`bot.conversation.learning`) add exactly these amounts as the
events happen, so `rebuild` of the same events gives the same evidence.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from engines.bandit import Arm

from .events import Event, FeedbackEvent, MessageEvent
from .model_stats import DEFAULT_WINDOW, ChannelKey


@dataclass(frozen=True, slots=True)
class RewardWeights:
    """How much each signal counts toward a member's wins (continued, 👍) or losses."""

    continued: float = 1.0
    up: float = 1.0
    down: float = 1.0
    regenerate: float = 1.0

    def feedback(self, kind: str) -> tuple[float, float]:
        """(wins, losses) one feedback of `kind` adds."""
        return {"up": (self.up, 0.0), "down": (0.0, self.down),
                "regenerate": (0.0, self.regenerate)}.get(kind, (0.0, 0.0))


def rebuild(events: Iterable[Event], members: Collection[str], discount: float,
            weights: RewardWeights) -> tuple[dict[str, Arm], int]:
    """The evidence of `members` after these events, and the number of replies (steps).

    Replies of models not in `members` (they left the blend) count as steps only."""
    events = list(events)
    messages = [e for e in events if isinstance(e, MessageEvent)]  # exported oldest first
    kinds: dict[tuple[ChannelKey, str], list[str]] = defaultdict(list)
    for e in events:
        if isinstance(e, FeedbackEvent):
            kinds[(e.platform, e.community, e.channel), e.message].append(e.kind)
    times: dict[tuple[ChannelKey, str], list[datetime]] = defaultdict(list)
    for m in messages:
        if m.role == "user":
            times[_key(m), m.user].append(m.ts)
    last_author: dict[ChannelKey, str] = {}
    pulls: list[tuple[str, float, float]] = []
    for m in messages:
        if m.role == "user":
            last_author[_key(m)] = m.user
            continue
        if m.model is None:
            continue
        wins = losses = 0.0
        author = last_author.get(_key(m))
        continued = False
        if author is not None:
            later = times[_key(m), author]
            i = bisect_right(later, m.ts)
            continued = i < len(later) and later[i] <= m.ts + DEFAULT_WINDOW
        if continued:
            wins += weights.continued
        else:
            losses += weights.continued
        for kind in kinds.get((_key(m), m.id), []):
            w, lo = weights.feedback(kind)
            wins, losses = wins + w, losses + lo
        pulls.append((m.model, wins, losses))
    arms = {m: [0.0, 0.0] for m in members}
    n = len(pulls)
    for k, (model, wins, losses) in enumerate(pulls):
        if model in arms:
            f = discount ** (n - 1 - k)
            arms[model][0] += wins * f
            arms[model][1] += losses * f
    return {m: Arm(w, lo) for m, (w, lo) in arms.items()}, n


def _key(e: MessageEvent) -> ChannelKey:
    return (e.platform, e.community, e.channel)
