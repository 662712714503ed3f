"""The mod-log: one line per safety event (who, where, which rule; the text only where the
community's admins turned that on), posted to the channel or chat they chose."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ...storage.safety import Safety
from ..inbound import InboundEvent

log = logging.getLogger(__name__)
PostLine = Callable[[str, str], Awaitable[None]]  # (channel id on the platform, text)
QUOTE = 300  # characters of the text quoted


class ModLog:
    def __init__(self) -> None:
        self.sinks: dict[str, PostLine] = {}

    def register(self, platform: str, post: PostLine) -> None:
        self.sinks[platform] = post

    async def note(self, event: InboundEvent, safety: Safety, what: str, rule: str,
                   text: str | None = None) -> None:
        """Log `what` happened (e.g. "input refused") because of `rule`; never raises."""
        log.info("safety: %s in %s (%s)", what, event.channel_id, rule)
        post = self.sinks.get(event.platform)
        if safety.modlog_channel is None or post is None:
            return
        where = event.channel_name or event.channel_id
        line = f"🛡 {what}: {event.user_name} ({event.user_id}) in {where} — {rule}"
        if safety.modlog_text and text:
            quoted = " ".join(text.split())
            line += "\n> " + (quoted[:QUOTE] + ("…" if len(quoted) > QUOTE else ""))
        try:
            await post(safety.modlog_channel, line)
        except Exception as exc:  # the mod-log is a convenience: the turn goes on
            log.warning("mod-log: could not post in %s: %s", safety.modlog_channel,
                        type(exc).__name__)
