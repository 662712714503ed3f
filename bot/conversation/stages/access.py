"""Access: a user the community's or channel's access lists keep out is ignored (one short
notice a day tells them so; the mod-log gets a line then)."""

from __future__ import annotations

from ...storage.safety import SafetyStore
from ..pipeline import Next, Turn
from ..safety.access import DailyNotices, allowed
from ..safety.modlog import ModLog
from .quota import today

DENIED = "(You can't use me here; a server admin decides who can.)"


class Access:
    def __init__(self, safety: SafetyStore, modlog: ModLog) -> None:
        self.safety = safety
        self.modlog = modlog
        self.notices = DailyNotices()

    async def __call__(self, turn: Turn, rest: Next) -> None:
        event, channel = turn.event, turn.channel
        assert channel is not None
        rules = await self.safety.rules(channel.community_id)
        if rules and not allowed(rules, channel.id, event.user_id, event.role_ids):
            key = (event.platform, event.community_id, event.user_id)
            if self.notices.first_today(key, today().toordinal()):
                await self.modlog.note(event, await self.safety.settings(channel.community_id),
                                       "ignored", "access list")
                return turn.end("notice", DENIED, reason="denied")
            return turn.end("ignored", reason="denied")
        await rest(turn)
