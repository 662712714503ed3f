"""Telegram's side of the `Outbox`: messages in one chat or forum topic (a model's Markdown
sent as entities, plain text when Telegram refuses them), the feedback keyboard, and
Telegram's numbers (4,096 UTF-16 units; about 20 messages a minute in a group, one a second
in a private chat, 30 a second per bot)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import Bot, CallbackQuery, LinkPreviewOptions, MessageEntity, ReplyParameters
from telegram import InlineKeyboardButton as Button
from telegram import InlineKeyboardMarkup as Keyboard
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from ...conversation import Budget, PlatformLimits, RetryLater, SendError, unping
from .incoming import Place, message_key
from .markdown import to_entities, units

LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
BUTTONS = {"fb:up": "👍", "fb:down": "👎", "fb:regen": "🔄"}
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TelegramOptions:
    """Telegram's pace (seconds between streaming edits of a reply; the sends and edits all
    replies share) and the long-polling wait per getUpdates. Tests shorten them."""

    private: float = 1.0
    group: float = 3.0
    group_per_minute: int = 20
    chat_per_second: int = 1
    bot_per_second: int = 30
    poll_timeout: int = 10

    def limits(self, place: Place) -> PlatformLimits:
        chat = (Budget(f"telegram:chat:{place.chat_id}", self.chat_per_second, 1.0)
                if place.private else
                Budget(f"telegram:chat:{place.chat_id}", self.group_per_minute, 60.0))
        return PlatformLimits(
            max_chars=LIMIT, count=units, footer="— {model}",
            edit_interval_s=self.private if place.private else self.group,
            budgets=(Budget("telegram:bot", self.bot_per_second, 1.0), chat),
            unping=True)  # Telegram has no allowed_mentions: `@name` is neutralised


def keyboard() -> Keyboard:
    """👍 / 👎 / 🔄 under a reply."""
    return Keyboard([[Button(label, callback_data=data) for data, label in BUTTONS.items()]])


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that `retry_after` becomes a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value if isinstance(value, int | float) else value.total_seconds()


def formatted(text: str) -> tuple[str, tuple[MessageEntity, ...]]:
    """`text` (Markdown) as Telegram text and entities; unchanged and plain if it cannot be
    converted or would not fit."""
    try:
        shown, entities = to_entities(text)
    except Exception:  # a converter bug must not cost the message
        log.exception("telegram: could not convert Markdown; sending plain text")
        return text, ()
    if not entities or not shown.strip() or units(shown) > LIMIT:
        return text, ()
    return shown, entities


def refused_entities(exc: SendError) -> bool:
    """Telegram could not use the message's entities (then it goes again as plain text)."""
    return isinstance(exc.__cause__, BadRequest) and "entit" in str(exc).lower()


async def _call(call: Callable[[], Awaitable[T]]) -> T:
    """A Bot API call with Telegram's errors as the core's."""
    try:
        return await call()
    except RetryAfter as exc:
        raise RetryLater(retry_seconds(exc)) from exc
    except TelegramError as exc:
        raise SendError(f"Telegram: {exc.message}") from exc


class ChatOutbox:
    """Sends into one chat or topic; `query` (a button press) receives the private notes."""

    def __init__(self, bot: Bot, place: Place, pacing: TelegramOptions,
                 query: CallbackQuery | None = None) -> None:
        self.bot, self.place, self.query = bot, place, query
        self.limits = pacing.limits(place)
        self._answered = False

    def _id(self, key: str) -> int:
        return int(key.rpartition(":")[2])

    async def send(self, text: str, *, reply_to: str | None, controls: bool) -> str:
        quote = self._id(reply_to) if reply_to is not None else None

        async def send(shown: str, entities: tuple[MessageEntity, ...]) -> str:
            sent = await _call(lambda: self.bot.send_message(
                self.place.chat_id, shown, entities=entities or None,
                message_thread_id=self.place.thread_id,
                reply_markup=keyboard() if controls else None, link_preview_options=NO_PREVIEW,
                reply_parameters=ReplyParameters(quote, allow_sending_without_reply=True)
                if quote is not None else None))
            return message_key(sent.chat_id, sent.message_id)

        return await _plain_if_refused(text, send)

    async def edit(self, message_id: str, text: str, *, controls: bool) -> None:
        async def edit(shown: str, entities: tuple[MessageEntity, ...]) -> None:
            await _call(lambda: self.bot.edit_message_text(
                shown, chat_id=self.place.chat_id, message_id=self._id(message_id),
                entities=entities or None, reply_markup=keyboard() if controls else None,
                link_preview_options=NO_PREVIEW))

        try:
            await _plain_if_refused(text, edit)
        except SendError as exc:
            if not isinstance(exc.__cause__, BadRequest) or "not modified" not in str(exc):
                raise

    async def delete(self, message_id: str) -> None:
        await _call(lambda: self.bot.delete_message(self.place.chat_id, self._id(message_id)))

    async def typing(self) -> None:
        await _call(lambda: self.bot.send_chat_action(
            self.place.chat_id, ChatAction.TYPING, message_thread_id=self.place.thread_id))

    async def notify(self, text: str) -> None:
        """On the pressed button the first time; later as a reply to the pressed message."""
        if self.query is not None and not self._answered:
            self._answered = True
            with contextlib.suppress(TelegramError):
                await self.query.answer(text[:200])
            return
        pressed = self.query.message if self.query is not None else None
        quote = message_key(self.place.chat_id, pressed.message_id) if pressed else None
        await self.send(text, reply_to=quote, controls=False)


async def _plain_if_refused(
        text: str, call: Callable[[str, tuple[MessageEntity, ...]], Awaitable[T]]) -> T:
    """`call` with `text` formatted; again as the plain text if Telegram refuses the entities."""
    shown, entities = formatted(text)
    if not entities:
        return await call(text, ())
    try:
        return await call(shown, entities)
    except SendError as exc:
        if not refused_entities(exc):
            raise
        log.warning("telegram refused the entities (%s); sending plain text", exc)
        return await call(text, ())


async def send_report(bot: Bot, channel_id: str, text: str, png: bytes | None) -> None:
    """A weekly report: the chart as a photo with the summary as its caption (plain text)."""
    chat, _, thread = channel_id.partition(":")
    topic = int(thread) if thread else None
    if png is not None:
        await bot.send_photo(int(chat), png, caption=text[:1024], filename="report.png",
                             message_thread_id=topic)
    else:
        await bot.send_message(int(chat), text[:4096], message_thread_id=topic)



async def post_line(bot: Bot, channel_id: str, text: str) -> None:
    """A mod-log line, plain text, in the chat (or topic) the admins chose; no `@name` in
    it can ping."""
    chat, _, thread = channel_id.partition(":")
    await bot.send_message(int(chat), unping(text)[:4096],
                           message_thread_id=int(thread) if thread else None)
