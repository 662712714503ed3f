"""Who may change a Telegram chat's settings: the creator or an administrator (cached)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import Bot, ChatMember, Message
from telegram.constants import ChatType
from telegram.error import TelegramError

log = logging.getLogger(__name__)
ADMIN_STATUSES = {ChatMember.OWNER, ChatMember.ADMINISTRATOR}


class AdminCheck:
    """`getChatMember` answers per (chat, user), remembered for `ttl` seconds."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[tuple[int, int], tuple[bool, float]] = {}

    async def is_admin(self, bot: Bot, message: Message, user_id: int) -> bool:
        """True in a private chat; in a group, for its creator, admins and anonymous admins."""
        chat = message.chat
        if chat.type == ChatType.PRIVATE:
            return True
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous admin posts as the group itself
        key = (chat.id, user_id)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            member = await bot.get_chat_member(chat.id, user_id)
        except TelegramError as exc:
            log.warning("getChatMember failed for chat %s: %s", chat.id, exc)
            return False
        allowed = member.status in ADMIN_STATUSES
        if len(self._cache) > 10_000:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
        self._cache[key] = (allowed, now + self.ttl)
        return allowed
