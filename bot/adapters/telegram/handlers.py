"""PTB handlers: messages, commands and feedback buttons, translated for the core."""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

from telegram import Bot, ChatMember, Message, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from ...conversation import APOLOGY, Conversations
from .incoming import PLATFORM, event_of, message_key, place_of
from .outbox import ChatOutbox, TelegramOptions

log = logging.getLogger(__name__)
RATINGS: dict[str, Literal["up", "down"]] = {"fb:up": "up", "fb:down": "down"}
ADMINS = {ChatMember.OWNER, ChatMember.ADMINISTRATOR}
GONE = {ChatMember.LEFT, ChatMember.BANNED}  # the bot was removed from the group
Context = ContextTypes.DEFAULT_TYPE


class Handlers:
    def __init__(self, core: Conversations, options: TelegramOptions) -> None:
        self.core, self.options = core, options

    async def on_message(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        if message is None or user is None or user.is_bot:
            return
        outbox = ChatOutbox(context.bot, place_of(message), self.options)
        await self.core.handle(event_of(message, user, context.bot.bot), outbox,
                               lambda: self.is_admin(context.bot, message, user))

    async def on_command(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        if message is None or user is None or not message.text:
            return
        words = [message.text.split()[0][1:].split("@", 1)[0], *(context.args or [])]
        outbox = ChatOutbox(context.bot, place_of(message), self.options)
        await self.core.text_command(event_of(message, user), words, outbox,
                                     lambda: self.is_admin(context.bot, message, user))

    async def is_admin(self, bot: Bot, message: Message, user: User) -> bool:
        """The chat's creator or an administrator (an anonymous admin posts as the group)."""
        chat = message.chat
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True

        async def ask() -> bool:
            return (await bot.get_chat_member(chat.id, user.id)).status in ADMINS

        try:
            return await self.core.admins.check((PLATFORM, chat.id, user.id), ask)
        except TelegramError as exc:
            log.warning("getChatMember failed for chat %s: %s", chat.id, exc)
            return False

    async def on_my_membership(self, update: Update, context: Context) -> None:
        """The bot was added to or removed from a group (private chats are left alone)."""
        change = update.my_chat_member
        if change is None or change.chat.type == ChatType.PRIVATE:
            return
        if change.new_chat_member.status in GONE:
            await self.core.community_left(PLATFORM, str(change.chat.id))
        else:
            await self.core.community_back(PLATFORM, str(change.chat.id))

    async def on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        message = query.message
        if not isinstance(message, Message):  # too old for Telegram to include it
            await query.answer("This reply is too old to rate.")
            return
        who = event_of(message, query.from_user)
        target = message_key(message.chat.id, message.message_id)
        rating = RATINGS.get(query.data or "")
        if rating is not None:
            await query.answer(await self.core.feedback(who, target, rating, toggle=True))
        elif query.data == "fb:regen":
            outbox = ChatOutbox(context.bot, place_of(message), self.options, query)
            await self.core.regenerate(who, target, outbox)
        else:
            await query.answer()

    async def on_error(self, update: object, context: Context) -> None:
        """The adapter's own failures (the core answers its own): logged, one line said."""
        log.error("telegram handler failed", exc_info=context.error)
        if not isinstance(update, Update):
            return
        with contextlib.suppress(TelegramError):
            if update.callback_query is not None:
                await update.callback_query.answer(APOLOGY)
            elif (message := update.effective_message) is not None:
                place = place_of(message)
                await context.bot.send_message(place.chat_id, APOLOGY,
                                               message_thread_id=place.thread_id)
