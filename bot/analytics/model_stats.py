"""Per-model reply statistics: share of replies, continuation and feedback rates.

* share: the model's replies over all replies with a model, in the period.
* continuation rate: of the model's replies, the fraction after which the user it answered
  wrote again in that channel within `window` (5 minutes by default). The user answered is
  the author of the channel's latest user message at the reply's time. Replies with no
  such user, or whose window runs past `until`, are not judged.
* 👍 / 👎 / regenerate rates: the fraction of the model's replies with at least one
  feedback event of that kind, whenever the feedback came. Feedback names its message by
  id within its own channel (Telegram message ids are only unique per chat).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.analytics.events import Event, FeedbackEvent, MessageEvent, as_utc

DEFAULT_WINDOW = timedelta(minutes=5)

ChannelKey = tuple[str, str, str]  # platform, community, channel


@dataclass(frozen=True, slots=True)
class ModelStats:
    """One model's replies in a period and how users responded to them."""

    model: str
    replies: int
    share: float
    judged: int  # replies whose continuation could be decided
    continued: int
    thumbs_up: int  # replies with at least one 👍
    thumbs_down: int
    regenerated: int

    @property
    def continuation_rate(self) -> float | None:
        return self.continued / self.judged if self.judged else None

    @property
    def thumbs_up_rate(self) -> float | None:
        return self.thumbs_up / self.replies if self.replies else None

    @property
    def thumbs_down_rate(self) -> float | None:
        return self.thumbs_down / self.replies if self.replies else None

    @property
    def regenerate_rate(self) -> float | None:
        return self.regenerated / self.replies if self.replies else None


def _key(e: MessageEvent) -> ChannelKey:
    return (e.platform, e.community, e.channel)


def model_stats(
    events: Iterable[Event],
    since: datetime,
    until: datetime,
    *,
    window: timedelta = DEFAULT_WINDOW,
) -> dict[str, ModelStats]:
    """Statistics per model id for replies sent in [since, until), most replies first."""
    since, until = as_utc(since), as_utc(until)
    events = list(events)
    messages = sorted((e for e in events if isinstance(e, MessageEvent)), key=lambda e: e.ts)
    feedback: dict[tuple[ChannelKey, str], set[str]] = defaultdict(set)
    for e in events:
        if isinstance(e, FeedbackEvent):
            feedback[((e.platform, e.community, e.channel), e.message)].add(e.kind)
    user_times: dict[tuple[ChannelKey, str], list[datetime]] = defaultdict(list)
    for m in messages:
        if m.role == "user":
            user_times[(_key(m), m.user)].append(m.ts)

    counts: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    last_author: dict[ChannelKey, str] = {}
    for m in messages:
        if m.role == "user":
            last_author[_key(m)] = m.user
            continue
        if m.model is None or not since <= m.ts < until:
            continue
        row = counts[m.model]
        row[0] += 1
        kinds = feedback.get((_key(m), m.id), set())
        row[3] += "up" in kinds
        row[4] += "down" in kinds
        row[5] += "regenerate" in kinds
        author = last_author.get(_key(m))
        if author is None or m.ts + window > until:
            continue
        row[1] += 1
        times = user_times[(_key(m), author)]
        i = bisect_right(times, m.ts)
        row[2] += i < len(times) and times[i] <= m.ts + window

    total = sum(row[0] for row in counts.values())
    stats = [
        ModelStats(model, row[0], row[0] / total, row[1], row[2], row[3], row[4], row[5])
        for model, row in counts.items()
    ]
    stats.sort(key=lambda s: (-s.replies, s.model))
    return {s.model: s for s in stats}
