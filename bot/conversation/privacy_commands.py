"""`/forget` (with a typed confirmation) and `/nsfw on|off`.

`/forget` in a group deletes what the bot stored of the user in that community; in a
private chat, everything of theirs on the platform. It asks first: `/forget confirm` within
`CONFIRM_S` seconds goes ahead."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..storage.privacy import Privacy
from .commands import ADMIN_ONLY, CommandResult
from .inbound import InboundEvent
from .service import ChatService

CONFIRM_S = 300.0
CONFIRM_WORDS = frozenset({"confirm", "yes"})


class PrivacyCommands:
    def __init__(self, service: ChatService,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.privacy = Privacy(service.store)
        self.clock = clock
        self._asked: dict[tuple[str, str, str], float] = {}  # (platform, community, user)

    async def forget(self, ctx: InboundEvent, word: str = "") -> CommandResult:
        key = (ctx.platform, ctx.community_id, ctx.user_id)
        where = ("everything I stored of you on this platform" if ctx.is_dm
                 else "everything I stored of you in this community")
        if word.strip().lower() not in CONFIRM_WORDS:
            if word.strip():
                return CommandResult("Usage: /forget, then /forget confirm.", ok=False)
            now = self.clock()
            self._asked = {k: t for k, t in self._asked.items() if t > now}
            self._asked[key] = now + CONFIRM_S
            return CommandResult(
                f"This deletes {where}: your messages, my replies to them, your feedback "
                "and your pinned facts. It cannot be undone. To go ahead, send "
                f"/forget confirm within {int(CONFIRM_S // 60)} minutes.")
        deadline = self._asked.pop(key, None)
        if deadline is None or deadline < self.clock():
            return CommandResult("Send /forget first (then /forget confirm within "
                                 f"{int(CONFIRM_S // 60)} minutes); nothing was deleted.",
                                 ok=False)
        user_id = await self.privacy.user_id(ctx.platform, ctx.user_id)
        if user_id is None:
            return CommandResult("I have nothing stored of you.")
        community = None
        if not ctx.is_dm:
            community = (await self.service.channel(ctx)).community_id
        done = await self.privacy.forget_user(user_id, community)
        return CommandResult(f"Done: I deleted {done.line()}.")

    async def nsfw(self, ctx: InboundEvent, value: str) -> CommandResult:
        """Allow (or no longer allow) NSFW personas in this chat, where the platform has
        no age-restricted channels of its own."""
        if not ctx.is_admin:
            return CommandResult(ADMIN_ONLY, ok=False)
        if ctx.age_restricted is not None:
            return CommandResult("NSFW personas follow the channel's age-restricted setting "
                                 "here; change it in the channel's settings.", ok=False)
        flag = {"on": True, "off": False}.get(value.strip().lower())
        if flag is None:
            return CommandResult("Usage: /nsfw on|off (admins).", ok=False)
        channel = await self.service.channel(ctx)
        await self.service.nsfw.opt_in.set(channel.community_id, flag)
        return CommandResult("NSFW personas may now be used in this chat." if flag
                             else "NSFW personas can no longer be used in this chat.")
