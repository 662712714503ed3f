"""Telegram output: plain-text parts of at most 4,096 characters, the feedback keyboard,
throttled streaming edits, and patience with flood limits (`RetryAfter`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from ...service import Reply
from ..text import split_message

log = logging.getLogger(__name__)
LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
WRITING = " …"  # after a streamed preview: more is coming
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
T = TypeVar("T")

BUTTONS = {"fb:up": "👍", "fb:down": "👎", "fb:regen": "🔄"}


@dataclass(frozen=True, slots=True)
class Target:
    """Where replies go: a chat or forum topic, optionally quoting a message."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji may count twice)."""
    return len(text.encode("utf-16-le")) // 2


def split(text: str) -> list[str]:
    """Plain-text parts that each fit one Telegram message."""
    limit = LIMIT
    while True:
        parts = split_message(text, limit)
        if all(units(p) <= LIMIT for p in parts):
            return parts
        limit = limit * 3 // 4


def keyboard() -> InlineKeyboardMarkup:
    """👍 / 👎 / 🔄 under a reply."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for data, label in BUTTONS.items()]])


def compose(reply: Reply, disclose: bool) -> str:
    """The text shown for a reply: notices after it, the model's name if disclosed."""
    text = reply.text.strip() or "…"
    for notice in reply.notices:
        text += f"\n\n({notice})"
    if disclose and reply.kind == "reply" and reply.model_id:
        text += f"\n\n— {reply.model_id}"
    return text


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value if isinstance(value, int | float) else value.total_seconds()


async def patiently(call: Callable[[], Awaitable[T]], tries: int = 4) -> T:
    """Run a Bot API call, waiting out flood control (`RetryAfter`) between tries."""
    for _ in range(tries - 1):
        try:
            return await call()
        except RetryAfter as exc:
            log.info("flood control: waiting %.1f s", retry_seconds(exc))
            await asyncio.sleep(retry_seconds(exc))
    return await call()


def _send(bot: Bot, target: Target, text: str,
          markup: InlineKeyboardMarkup | None = None) -> Awaitable[Message]:
    return bot.send_message(
        target.chat_id, text, message_thread_id=target.thread_id, reply_markup=markup,
        link_preview_options=NO_PREVIEW,
        reply_parameters=ReplyParameters(target.reply_to, allow_sending_without_reply=True)
        if target.reply_to is not None else None)


async def edit(bot: Bot, chat_id: int, message_id: int, text: str,
               markup: InlineKeyboardMarkup | None = None) -> None:
    """Show `text` in a sent message (already showing it is fine)."""
    try:
        await patiently(lambda: bot.edit_message_text(
            text, chat_id=chat_id, message_id=message_id, reply_markup=markup,
            link_preview_options=NO_PREVIEW))
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def send_parts(bot: Bot, target: Target, parts: list[str],
                     markup: InlineKeyboardMarkup | None = None) -> list[Message]:
    """Send each part; only the first quotes `target.reply_to`, the last gets `markup`."""
    sent: list[Message] = []
    for i, part in enumerate(parts):
        here = target if i == 0 else Target(target.chat_id, target.thread_id)
        last = markup if i == len(parts) - 1 else None
        sent.append(await patiently(lambda h=here, p=part, m=last: _send(bot, h, p, m)))
    return sent


async def send_text(bot: Bot, target: Target, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> list[Message]:
    """Send `text` as plain text, split at 4,096 characters."""
    return await send_parts(bot, target, split(text), markup)


@contextlib.asynccontextmanager
async def typing(bot: Bot, target: Target, every: float = 4.0) -> AsyncIterator[None]:
    """Show "typing…" in the chat while the body runs."""
    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(target.chat_id, ChatAction.TYPING,
                                           message_thread_id=target.thread_id)
            except TelegramError as exc:
                log.debug("sendChatAction failed: %s", exc)
            await asyncio.sleep(every)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class LiveReply:
    """A reply shown while it is written: sent once `interval` has passed, then edited at
    most once per `interval` (longer when Telegram asks to wait), and finally `close`d."""

    def __init__(self, bot: Bot, target: Target, interval: float) -> None:
        self.bot = bot
        self.target = target
        self.interval = interval
        self.message: Message | None = None
        self.pushes = 0
        self._text = ""
        self._shown = ""
        self._loop = asyncio.get_running_loop()
        self._next_at = self._loop.time() + interval
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def feed(self, text: str) -> None:
        """The reply so far."""
        self._text = text
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._pump())

    def _preview(self) -> str:
        text = self._text.strip()
        if not text:
            return ""
        room = LIMIT - len(WRITING)
        while units(text) > room:  # long already: show its start until the final parts
            text = text[: max(room // 2, room - (units(text) - len(text)))]
        return text + WRITING

    async def _pump(self) -> None:
        while not self._done.is_set():
            await self._wake.wait()
            delay = self._next_at - self._loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._done.wait(), delay)
            if self._done.is_set():
                return
            self._wake.clear()
            await self._push(self._preview())

    async def _push(self, text: str) -> None:
        if not text or text == self._shown:
            return
        try:
            if self.message is None:
                self.message = await _send(self.bot, self.target, text)
            else:
                await edit(self.bot, self.message.chat_id, self.message.message_id, text)
            self._shown = text
            self.pushes += 1
        except RetryAfter as exc:  # try again, with the newest text, when allowed
            self._next_at = self._loop.time() + retry_seconds(exc)
            self._wake.set()
            return
        except TelegramError as exc:
            log.warning("streaming edit failed: %s", exc)
        self._next_at = self._loop.time() + self.interval

    async def _stop(self) -> None:
        self._done.set()
        self._wake.set()
        if self._task is not None:
            await self._task  # lets a send in flight finish, so no message is orphaned

    def cancel(self) -> None:
        """Stop streaming without a final message (the handler was cancelled)."""
        self._done.set()
        self._wake.set()
        if self._task is not None:
            self._task.cancel()

    async def close(self, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> list[Message]:
        """Show the final `text` (split if long; `markup` on the last part)."""
        await self._stop()
        parts = split(text)
        if self.message is None:
            return await send_parts(self.bot, self.target, parts, markup)
        delay = self._next_at - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await edit(self.bot, self.message.chat_id, self.message.message_id, parts[0],
                   markup if len(parts) == 1 else None)
        tail = Target(self.target.chat_id, self.target.thread_id)
        return [self.message, *await send_parts(self.bot, tail, parts[1:], markup)]


async def send_report(bot: Bot, channel_id: str, text: str, png: bytes | None) -> None:
    """A weekly report: the chart as a photo with the summary as its caption (plain text)."""
    chat, _, thread = channel_id.partition(":")
    where = {"chat_id": int(chat), "message_thread_id": int(thread) if thread else None}
    if png is None:
        await bot.send_message(text=text[:4096], **where)
        return
    await bot.send_photo(photo=png, caption=text[:1024], filename="report.png", **where)
