"""Small builders for hand-made event streams."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.analytics.events import FeedbackEvent, FeedbackKind, MessageEvent, SettingEvent

DAY1 = datetime(2026, 11, 2, tzinfo=UTC)


def at(day: int, hhmm: str, seconds: int = 0) -> datetime:
    """Day 1 is 2 Nov 2026; `hhmm` like "10:15"."""
    h, m = (int(x) for x in hhmm.split(":"))
    return DAY1.replace(day=DAY1.day + day - 1, hour=h, minute=m, second=seconds)


class Stream:
    """Builds a community's events with unique message ids."""

    def __init__(self, community: str = "g1") -> None:
        self.community = community
        self.events: list[MessageEvent | FeedbackEvent | SettingEvent] = []

    def user(self, ts: datetime, user: str, channel: str = "c1") -> MessageEvent:
        event = MessageEvent(
            f"m{len(self.events)}", ts, "discord", self.community, channel, user, "user", None, "hi"
        )
        self.events.append(event)
        return event

    def bot(self, ts: datetime, model: str | None, channel: str = "c1") -> MessageEvent:
        mid = f"m{len(self.events)}"
        event = MessageEvent(mid, ts, "discord", self.community, channel, "bot", "bot", model, "")
        self.events.append(event)
        return event

    def feedback(self, ts: datetime, user: str, reply: MessageEvent, kind: FeedbackKind) -> None:
        self.events.append(
            FeedbackEvent(ts, "discord", self.community, reply.channel, user, reply.id, kind)
        )

    def mode(self, ts: datetime, mode: str | None, channel: str = "c1") -> None:
        self.events.append(
            SettingEvent(ts, "discord", self.community, channel, "admin", "mode", mode)
        )
