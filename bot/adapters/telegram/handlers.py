"""PTB handlers: messages, commands and feedback buttons, translated for the core."""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from ...conversation import MENU, CommandResult, Conversations, InboundEvent, run_text
from .admin import AdminCheck
from .incoming import event_of, message_key, place_of
from .outbox import ChatOutbox, Pacing

log = logging.getLogger(__name__)
APOLOGY = "Sorry, something went wrong on my side. Please try again."
RATINGS: dict[str, Literal["up", "down"]] = {"fb:up": "up", "fb:down": "down"}
Context = ContextTypes.DEFAULT_TYPE


class Handlers:
    def __init__(self, core: Conversations, admins: AdminCheck, pacing: Pacing) -> None:
        self.core = core
        self.admins = admins
        self.pacing = pacing

    async def on_message(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        if message is None or user is None or user.is_bot:
            return
        outbox = ChatOutbox(context.bot, place_of(message), self.pacing)
        await self.core.handle(event_of(message, user, context.bot.bot), outbox)

    async def on_command(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        if message is None or user is None or not message.text:
            return
        name = message.text.split()[0][1:].split("@", 1)[0].lower()
        if name not in dict(MENU):
            return
        args = context.args or []

        async def command(event: InboundEvent) -> CommandResult | None:
            admin = await self.admins.is_admin(context.bot, message, user.id)
            event = event_of(message, user, is_admin=admin)
            return await run_text(self.core.commands, event, name, args)

        place = place_of(message)
        result = await self.core.command(event_of(message, user), command)
        if result is None:
            return
        outbox = ChatOutbox(context.bot, place, self.pacing)
        quote = None if place.private else message_key(message.chat.id, message.message_id)
        await self.core.say(outbox, result.text, reply_to=quote)
        if result.greeting:
            await self.core.say(outbox, result.greeting)

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
            outbox = ChatOutbox(context.bot, place_of(message), self.pacing, query)
            await self.core.regenerate(who, target, outbox)
        else:
            await query.answer()

    async def on_error(self, update: object, context: Context) -> None:
        """Log it; tell the user briefly when there is a chat to tell (the core answers its
        own failures: this is for the adapter's)."""
        log.error("telegram handler failed", exc_info=context.error)
        if not isinstance(update, Update):
            return
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(APOLOGY)
            return
        if update.effective_chat is not None:
            message = update.effective_message
            thread = message.message_thread_id if message and message.is_topic_message else None
            with contextlib.suppress(TelegramError):
                await context.bot.send_message(update.effective_chat.id, APOLOGY,
                                               message_thread_id=thread)
