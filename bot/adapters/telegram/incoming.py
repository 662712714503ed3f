"""Telegram updates as platform-neutral `InboundEvent`s."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Chat, Message, MessageEntity, User
from telegram.constants import ChatType

from ...conversation import InboundEvent

PLATFORM = "telegram"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a conversation lives: a chat, or one forum topic of it."""

    chat_id: int
    thread_id: int | None  # a forum topic, else None
    private: bool

    @property
    def channel_id(self) -> str:
        return str(self.chat_id) if self.thread_id is None else f"{self.chat_id}:{self.thread_id}"


def place_of(message: Message) -> Place:
    thread = message.message_thread_id if message.is_topic_message else None
    return Place(message.chat.id, thread, message.chat.type == ChatType.PRIVATE)


def message_key(chat_id: int, message_id: int) -> str:
    """A message's id for the core: Telegram's ids are per chat."""
    return f"{chat_id}:{message_id}"


def event_of(message: Message, user: User, bot: User | None = None, *,
             is_admin: bool = False) -> InboundEvent:
    """`message` (by `user`) as the core sees it; `bot` given: a chat message to answer."""
    place = place_of(message)
    chat: Chat = message.chat
    community = chat.title or chat.full_name or str(chat.id)
    channel = community if place.thread_id is None else f"{community} #{place.thread_id}"
    replied = message.reply_to_message
    if replied is not None and replied.forum_topic_created is not None:
        replied = None  # Telegram marks every topic message a reply to the topic's start
    return InboundEvent(
        platform=PLATFORM, community_id=str(chat.id), community_name=community,
        channel_id=place.channel_id, channel_name=channel,
        user_id=str(user.id), user_name=user.full_name or user.username or str(user.id),
        text=without_mention(message.text or message.caption or "", bot) if bot else "",
        is_admin=is_admin or place.private, is_dm=place.private,
        message_id=message_key(chat.id, message.message_id),
        reply_to_id=message_key(chat.id, replied.message_id) if replied else None,
        replies_to_bot=bot is not None and replied is not None
        and replied.from_user is not None and replied.from_user.id == bot.id,
        reply_to_text=(replied.text or replied.caption or None) if replied else None,
        reply_to_author=replied.from_user.full_name if replied and replied.from_user
        and not replied.from_user.is_bot else None,
        reply_to_user_id=str(replied.from_user.id) if replied and replied.from_user else None,
        mentions_bot=bot is not None and mentions(message, bot),
        attachments=int(bool(message.effective_attachment)))


def mentions(message: Message, bot: User) -> bool:
    """The message mentions the bot (`@botname`, or a text mention of it)."""
    for entity, text in message.parse_entities(
            [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None:
            if entity.user.id == bot.id:
                return True
        elif bot.username and text.lower() == f"@{bot.username.lower()}":
            return True
    return False


def without_mention(text: str, bot: User) -> str:
    """The text with `@botname` taken out (the model needn't see it)."""
    if not bot.username:
        return text.strip()
    cut = re.sub(rf"@{re.escape(bot.username)}\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", cut).strip()
