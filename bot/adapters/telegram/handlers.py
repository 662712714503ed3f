"""PTB handlers: messages, commands and feedback buttons, translated to `ChatService` and
`Commands` calls and rendered back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Literal
from weakref import WeakValueDictionary

from telegram import Bot, CallbackQuery, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from ...commands import CommandContext, Commands
from ...reports.scheduler import ReportService
from ...service import ChatService, IncomingMessage, Reply
from .admin import AdminCheck
from .commands import RUN
from .incoming import PLATFORM, Place, addressed, delivery_id, incoming, place_of, without_mention
from .render import (
    LiveReply,
    Target,
    compose,
    edit,
    keyboard,
    send_parts,
    send_text,
    split,
    typing,
)

log = logging.getLogger(__name__)
APOLOGY = "Sorry, something went wrong on my side. Please try again."
RATINGS: dict[str, Literal["up", "down"]] = {"fb:up": "up", "fb:down": "down"}
Context = ContextTypes.DEFAULT_TYPE


@dataclass(frozen=True, slots=True)
class Pacing:
    """Seconds between streaming edits of one reply, by kind of chat."""

    private: float = 1.0
    group: float = 3.0

    def interval(self, place: Place) -> float:
        return self.private if place.private else self.group


class Handlers:
    """The bot's behaviour on Telegram; all decisions are `ChatService`'s and `Commands`'."""

    def __init__(self, service: ChatService, admins: AdminCheck, pacing: Pacing,
                 reports: ReportService | None = None) -> None:
        self.service = service
        self.commands = Commands(service, reports)
        self.admins = admins
        self.pacing = pacing
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def _lock(self, channel_id: str) -> asyncio.Lock:
        """One reply at a time per conversation, in the order messages came."""
        lock = self._locks.get(channel_id)
        if lock is None:
            lock = self._locks[channel_id] = asyncio.Lock()
        return lock

    # ---- messages ---------------------------------------------------------------------------

    async def on_message(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        if message is None or user is None or message.text is None or user.is_bot:
            return
        me = context.bot.bot
        place = place_of(message)
        async with self._lock(place.channel_id):  # taken first: replies keep message order
            where = incoming(message, user, without_mention(message.text, me))
            channel = await self.service.channel(where)
            if not (place.private or channel.answer_all or addressed(message, me)):
                return
            target = Target(place.chat_id, place.thread_id,
                            None if place.private else message.message_id)
            await self._stream(context.bot, where, target, place, channel.disclose)

    async def _stream(self, bot: Bot, where: IncomingMessage, target: Target, place: Place,
                      disclose: bool) -> Reply:
        live = LiveReply(bot, target, self.pacing.interval(place))
        final: Reply | None = None
        text = ""
        try:
            async with typing(bot, target):
                async for item in self.service.stream(where):
                    if isinstance(item, Reply):
                        final = item
                    else:
                        text += item
                        live.feed(text)
        except asyncio.CancelledError:
            live.cancel()
            raise
        except Exception:
            log.exception("reply failed in %s", place.channel_id)
        final = final or Reply("error", APOLOGY)
        rated = final.kind == "reply" and final.model_id is not None
        sent = await live.close(compose(final, disclose), keyboard() if rated else None)
        if final.kind == "reply" and final.message_id is not None:
            for part, shown in enumerate(sent):
                await self.service.replies.add_delivery(
                    final.message_id, PLATFORM, delivery_id(shown.chat_id, shown.message_id),
                    part)
        return final

    # ---- commands ---------------------------------------------------------------------------

    async def on_command(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        if message is None or user is None or not message.text:
            return
        name = message.text.split()[0][1:].split("@", 1)[0].lower()
        run = RUN.get(name)
        if run is None:
            return
        place = place_of(message)
        async with self._lock(place.channel_id):  # in order with the chat's messages
            ctx = CommandContext(incoming(message, user),
                                 await self.admins.is_admin(context.bot, message, user.id))
            result = await run(self.commands, ctx, context.args or [])
            quote = None if place.private else message.message_id
            await send_text(context.bot, Target(place.chat_id, place.thread_id, quote),
                            result.text)
            if result.greeting:
                await send_text(context.bot, Target(place.chat_id, place.thread_id),
                                result.greeting)

    # ---- feedback buttons -------------------------------------------------------------------

    async def on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        message = query.message
        if not isinstance(message, Message):  # too old for Telegram to include it
            await query.answer("This reply is too old to rate.")
            return
        ref = await self.service.replies.find(
            PLATFORM, delivery_id(message.chat.id, message.message_id))
        if ref is None:
            await query.answer("I no longer have this reply.")
            return
        where = incoming(message, query.from_user)
        rating = RATINGS.get(query.data or "")
        if rating is not None:
            label = "👍" if rating == "up" else "👎"
            if await self.service.feedback(where, ref.message_id, rating):
                await query.answer(f"Thanks for the {label}")
            else:  # pressed again: take it back
                await self.service.feedback(where, ref.message_id, rating, remove=True)
                await query.answer(f"Took back your {label}")
            return
        if query.data == "fb:regen":
            await self._regenerate(context.bot, query, message, where, ref.message_id,
                                   ready=ref.latest and ref.model_id is not None)
            return
        await query.answer()

    async def _regenerate(self, bot: Bot, query: CallbackQuery, message: Message,
                          where: IncomingMessage, reply_id: int, ready: bool) -> None:
        if not ready:  # refused at once: say why on the button
            await query.answer((await self.service.regenerate(where, reply_id)).text)
            return
        await query.answer("🔄 Writing another reply…")
        place = place_of(message)
        channel = await self.service.channel(where)
        async with self._lock(place.channel_id), typing(bot, Target(place.chat_id,
                                                                      place.thread_id)):
            reply = await self.service.regenerate(where, reply_id)
            if reply.kind != "reply" or reply.message_id is None:
                await send_text(bot, Target(place.chat_id, place.thread_id,
                                            message.message_id), reply.text)
                return
            await self._replace(bot, place, reply_id, reply, channel.disclose)

    async def _replace(self, bot: Bot, place: Place, old_id: int, reply: Reply,
                       disclose: bool) -> None:
        """Edit the old reply's messages to show the new one (sending or deleting extras)."""
        assert reply.message_id is not None
        old = await self.service.replies.deliveries(old_id)
        parts = split(compose(reply, disclose))
        for i, part in enumerate(parts):
            markup = keyboard() if i == len(parts) - 1 else None
            if i < len(old):
                chat_id, _, message_id = old[i].rpartition(":")
                # re-pointed before it shows, so a press on it goes to the new reply
                await self.service.replies.add_delivery(reply.message_id, PLATFORM, old[i], i)
                await edit(bot, int(chat_id), int(message_id), part, markup)
            else:
                sent = await send_parts(bot, Target(place.chat_id, place.thread_id),
                                        [part], markup)
                await self.service.replies.add_delivery(
                    reply.message_id, PLATFORM, delivery_id(place.chat_id,
                                                            sent[0].message_id), i)
        for extra in old[len(parts):]:
            chat_id, _, message_id = extra.rpartition(":")
            try:
                await bot.delete_message(int(chat_id), int(message_id))
            except TelegramError as exc:
                log.warning("could not delete an old part: %s", exc)

    # ---- errors -----------------------------------------------------------------------------

    async def on_error(self, update: object, context: Context) -> None:
        """Log it; tell the user briefly when there is a chat to tell."""
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
