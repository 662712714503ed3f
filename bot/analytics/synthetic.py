"""A seeded synthetic community whose retention exponent and model behaviour are known.

Every user gets a channel of their own (so nobody else's messages blur whom a reply
answered) whose blend mode is set once at the start. A user's first day is drawn uniformly
from the first `cohort_days` days; on that day they are active, and on day k ≥ 1 after it
they are active independently with probability r1·k^(−ζ) (ζ of their channel's mode). So
the expected R(k) of every cohort is exactly r1·k^(−ζ).

An active day has one or two sessions, each a run of exchanges: the user writes, a model
drawn by weight replies a few seconds later, feedback of each kind follows with that
model's probability, and the user writes again within 5 minutes of the reply with that
model's continuation probability, else the session ends (the next one starts more than
30 minutes later). So each model's continuation rate is exactly its `continuation`.
Sessions start early enough in the UTC day that they never spill into the next day.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.analytics.events import (
    AssignmentEvent,
    Event,
    FeedbackEvent,
    FeedbackKind,
    MessageEvent,
    Platform,
    SettingEvent,
)

BOT_USER = "blendbot"  # the `user` of bot replies
ADMIN_USER = "admin"  # the `user` of mode settings


@dataclass(frozen=True, slots=True)
class ModelBehaviour:
    """How users respond to one synthetic model's replies (probabilities per reply)."""

    weight: float = 1.0  # relative chance of answering
    continuation: float = 0.5
    thumbs_up: float = 0.1
    thumbs_down: float = 0.05
    regenerate: float = 0.03


def _default_models() -> dict[str, ModelBehaviour]:
    return {
        "smollm2-135m": ModelBehaviour(continuation=0.45, thumbs_up=0.08),
        "gemma3-270m": ModelBehaviour(continuation=0.6, thumbs_up=0.12),
        "big-13b": ModelBehaviour(weight=0.5, continuation=0.7, thumbs_up=0.2),
    }


@dataclass(frozen=True, slots=True)
class SyntheticCommunity:
    """The population to simulate; `since`/`until` bound the whole simulated period."""

    users: int = 3000
    zeta: float = 0.5
    r1: float = 0.5
    models: Mapping[str, ModelBehaviour] = field(default_factory=_default_models)
    modes: Mapping[str, float] | None = None  # mode → its ζ; None: every channel `uniform`
    # an experiment's name: `modes` are then its arms (arm → its ζ), each user is assigned
    # to one at their first message (an assignment event), and no mode is set
    experiment: str | None = None
    # False: an active day is one user message and nothing else (no replies, no feedback):
    # the cheapest community whose retention is known, for tests of retention alone
    replies: bool = True
    cohort_days: int = 14
    max_day: int = 30  # days observed after the last cohort's first day
    start: datetime = datetime(2026, 10, 5, tzinfo=UTC)
    community: str = "synthetic"
    platform: Platform = "discord"
    seed: int = 0

    @property
    def since(self) -> datetime:
        return self.start

    @property
    def until(self) -> datetime:
        return self.start + timedelta(days=self.cohort_days + self.max_day)

    def retention(self, k: int, mode: str | None = None) -> float:
        """The true R(k) of a user of `mode` (the default population when None)."""
        zeta = self.zeta if mode is None or self.modes is None else self.modes[mode]
        return 1.0 if k == 0 else self.r1 * k ** (-zeta)


class _Writer:
    """Turns simulated actions into events with unique ids."""

    def __init__(self, spec: SyntheticCommunity) -> None:
        self.spec = spec
        self.events: list[Event] = []
        self.next_id = 0

    def _where(self, channel: str, user: str) -> dict[str, Any]:
        spec = self.spec
        return {
            "platform": spec.platform,
            "community": spec.community,
            "channel": channel,
            "user": user,
        }

    def message(self, ts: datetime, channel: str, user: str, model: str | None) -> str:
        """A user message (model None) or the reply `model` wrote; returns its id."""
        self.next_id += 1
        mid = f"{self.spec.community}-{self.next_id}"
        if model is None:
            where = self._where(channel, user)
            event = MessageEvent(mid, ts, role="user", model=None, text=f"hi {mid}", **where)
        else:
            where = self._where(channel, BOT_USER)
            event = MessageEvent(mid, ts, role="bot", model=model, text=f"reply {mid}", **where)
        self.events.append(event)
        return mid

    def feedback(
        self, ts: datetime, channel: str, user: str, message: str, kind: FeedbackKind
    ) -> None:
        where = self._where(channel, user)
        self.events.append(FeedbackEvent(ts=ts, message=message, kind=kind, **where))

    def assignment(self, ts: datetime, channel: str, user: str, arm: str) -> None:
        assert self.spec.experiment is not None
        where = self._where(channel, user)
        self.events.append(AssignmentEvent(ts=ts, experiment=self.spec.experiment, arm=arm,
                                           **where))

    def mode(self, channel: str, mode: str) -> None:
        where = self._where(channel, ADMIN_USER)
        self.events.append(SettingEvent(ts=self.spec.start, setting="mode", value=mode, **where))


def _session(w: _Writer, rng: random.Random, start: datetime, channel: str, user: str) -> datetime:
    """Simulate one session from `start`; return the time of its last user message."""
    models = list(w.spec.models)
    weights = [w.spec.models[m].weight for m in models]
    t = start
    while True:
        w.message(t, channel, user, None)
        last_user = t
        model = rng.choices(models, weights)[0]
        behaviour = w.spec.models[model]
        reply_ts = t + timedelta(seconds=rng.uniform(2, 20))
        reply = w.message(reply_ts, channel, user, model)
        feedback: tuple[tuple[FeedbackKind, float], ...] = (
            ("up", behaviour.thumbs_up),
            ("down", behaviour.thumbs_down),
            ("regenerate", behaviour.regenerate),
        )
        for kind, p in feedback:
            if rng.random() < p:
                w.feedback(
                    reply_ts + timedelta(seconds=rng.uniform(5, 60)), channel, user, reply, kind
                )
        if rng.random() >= behaviour.continuation:
            return last_user
        t = reply_ts + timedelta(seconds=rng.uniform(10, 240))


def _day(w: _Writer, rng: random.Random, day: datetime, channel: str, user: str,
         arm: str | None = None) -> None:
    start = day + timedelta(hours=rng.uniform(0, 10))
    if arm is not None:  # first sight: the user is put in their arm as they first write
        w.assignment(start, channel, user, arm)
    if not w.spec.replies:
        w.message(start, channel, user, None)
        return
    last = _session(w, rng, start, channel, user)
    if rng.random() < 0.5:
        second = last + timedelta(minutes=31 + rng.uniform(0, 240))
        if second < day + timedelta(hours=20):
            _session(w, rng, second, channel, user)


def generate(spec: SyntheticCommunity) -> list[Event]:
    """Every event of the simulated community, in time order."""
    rng = random.Random(spec.seed)
    w = _Writer(spec)
    modes = list(spec.modes) if spec.modes else ["uniform"]
    horizon = spec.cohort_days + spec.max_day
    for n in range(spec.users):
        user = f"u{n:05d}"
        channel = f"ch-{user}"
        mode = rng.choice(modes)
        if spec.experiment is None:
            w.mode(channel, mode)
        first = rng.randrange(spec.cohort_days)
        for k in range(horizon - first):
            if k == 0 or rng.random() < spec.retention(k, mode if spec.modes else None):
                arm = mode if k == 0 and spec.experiment is not None else None
                _day(w, rng, spec.start + timedelta(days=first + k), channel, user, arm)
    w.events.sort(key=lambda e: (e.ts, not isinstance(e, AssignmentEvent)))
    return w.events
