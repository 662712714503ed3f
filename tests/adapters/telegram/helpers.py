"""Shared people, chats and waits for the Telegram adapter tests."""

from __future__ import annotations

import asyncio

from bot.app import App
from bot.storage.feedback import ReplyRef
from tests.fakes.telegram_api import Call, Chat, FakeTelegram, User, private

ALICE = User(1001, "Alice")
BOB = User(1002, "Bob")
GROUP = Chat(-100500, "supergroup", "Tea room")
FORUM = Chat(-100600, "supergroup", "Forum", is_forum=True)
DM = private(ALICE)


def sent(fake: FakeTelegram, chat: Chat) -> list[Call]:
    """sendMessage calls the bot made into `chat` (successful ones)."""
    return [c for c in fake.of("sendMessage") if c.params["chat_id"] == chat.id]


async def nth_message(fake: FakeTelegram, chat: Chat, n: int, within: float = 15.0) -> Call:
    """Wait for the bot's `n`-th message (1-based) in `chat`."""
    calls = await fake.wait_for(lambda: len(sent(fake, chat)) >= n and sent(fake, chat),
                                within)
    return calls[n - 1]


def buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def delivered(app: App, chat: Chat, message_id: int, within: float = 10.0) -> ReplyRef:
    """The stored reply a bot message carries, once the bot has recorded it."""
    deadline = asyncio.get_running_loop().time() + within
    while (ref := await app.service.replies.find("telegram", f"{chat.id}:{message_id}")) is None:
        assert asyncio.get_running_loop().time() < deadline, "the reply was never recorded"
        await asyncio.sleep(0.02)
    return ref
