"""Render plans: what the adapter's `Outbox` must send, edit or delete, and doing it paced.

A plan's parts are the reply split at the platform's limit, the footer (notices, the
disclosed model) included. `edit` lists delivered messages to reuse in order: a streamed
preview, or a regenerated reply's parts; parts beyond them are sent, extras deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from .outbox import Outbox, PlatformLimits, RetryLater, SendError
from .pacing import Pacer
from .safety.hygiene import unping
from .text import split_message

log = logging.getLogger(__name__)
T = TypeVar("T")
TRIES = 4  # calls of one send or edit while the platform says "retry after"
PREVIEW_RESERVE = 0.25  # previews leave this share of each budget to final parts


@dataclass(frozen=True, slots=True)
class RenderPlan:
    parts: tuple[str, ...]
    reply_to: str | None = None  # the first sent part quotes this message
    controls: bool = False  # feedback controls under the last part
    edit: tuple[str, ...] = ()  # delivered messages that show parts[0], parts[1], …


def compose(text: str, notices: Sequence[str] = (), model_id: str | None = None,
            disclose: bool = False, limits: PlatformLimits | None = None) -> str:
    """A reply's full text: notices after it, then the model's name if disclosed."""
    shown = text.strip() or "…"
    for notice in notices:
        shown += f"\n\n({notice})"
    if disclose and model_id:
        footer = limits.footer if limits is not None else PlatformLimits(1).footer
        shown += "\n\n" + footer.format(model=model_id)
    return shown


def split(text: str, limits: PlatformLimits) -> tuple[str, ...]:
    """Parts that each fit one message as the platform counts length."""
    room = limits.max_chars
    while True:
        parts = split_message(text, room)
        if all(limits.count(p) <= limits.max_chars for p in parts) or room <= 40:
            return tuple(parts)
        room = room * 3 // 4


def sendable(text: str, limits: PlatformLimits) -> str:
    """No `@name` that would ping on a platform without `allowed_mentions`."""
    return unping(text) if limits.unping else text


def plan(text: str, limits: PlatformLimits, *, reply_to: str | None = None,
         controls: bool = False, edit: Sequence[str] = ()) -> RenderPlan:
    return RenderPlan(split(sendable(text, limits), limits), reply_to, controls, tuple(edit))


async def patiently(call: Callable[[], Awaitable[T]], tries: int = TRIES) -> T:
    """Run a platform call, waiting out `RetryLater` between tries."""
    for _ in range(tries - 1):
        try:
            return await call()
        except RetryLater as exc:
            log.info("platform flood control: waiting %.1f s", exc.seconds)
            await asyncio.sleep(exc.seconds)
    return await call()


async def deliver(outbox: Outbox, render: RenderPlan, pacer: Pacer,
                  on_part: Callable[[int, str], Awaitable[None]] | None = None) -> list[str]:
    """Carry out `render`; returns the platform ids of its parts in order.

    `on_part(index, id)` runs before a reused message is edited (so a press on it already
    reaches the new reply) and right after a new one is sent.
    """
    budgets = outbox.limits.budgets
    ids: list[str] = []
    last = len(render.parts) - 1
    for i, part in enumerate(render.parts):
        controls = render.controls and i == last
        await pacer.take(budgets)
        if i < len(render.edit):
            target = render.edit[i]
            if on_part is not None:
                await on_part(i, target)
            await patiently(partial(outbox.edit, target, part, controls=controls))
            ids.append(target)
            continue
        quote = render.reply_to if i == 0 else None
        sent = await patiently(partial(outbox.send, part, reply_to=quote, controls=controls))
        ids.append(sent)
        if on_part is not None:
            await on_part(i, sent)
    for extra in render.edit[len(render.parts):]:
        try:
            await pacer.take(budgets)
            await patiently(partial(outbox.delete, extra))
        except SendError as exc:
            log.warning("could not delete an old part: %s", exc)
    return ids


class LivePreview:
    """A reply shown while it is written: sent with its first words, then edited at most once
    per `edit_interval_s` (later when the budgets are tight or the platform asks to
    wait). `finish` stops it and says which message shows the preview."""

    def __init__(self, outbox: Outbox, pacer: Pacer, reply_to: str | None,
                 clean: Callable[[str], str] = str) -> None:
        self.outbox = outbox
        self.clean = clean  # the last check of what a model wrote (no secrets)
        self.limits = outbox.limits
        self.pacer = pacer
        self.reply_to = reply_to
        self.message_id: str | None = None
        self._text = ""
        self._shown = ""
        self._loop = asyncio.get_running_loop()
        self._next_at = 0.0  # when the next preview may go (the first: at once)
        self._retry_until = 0.0  # the platform said "retry after": nothing before this
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_sent: Callable[[str], Awaitable[None]] | None = None  # once it is showing

    def adopt(self, message_id: str) -> None:
        """Show the preview in a message already on the platform (a dead turn's preview)."""
        self.message_id = message_id

    def feed(self, text: str) -> None:
        """The reply so far."""
        if not self.limits.stream:
            return
        self._text = text
        self._wake.set()
        if self._task is None:  # the first words show as soon as the model waits for more
            self._task = asyncio.create_task(self._pump())

    def _preview(self) -> str:
        text = sendable(self.clean(self._text), self.limits).strip()
        if not text:
            return ""
        marker = self.limits.writing
        room = self.limits.max_chars - self.limits.count(marker)
        while self.limits.count(text) > room:  # long already: its start until the end
            over = self.limits.count(text) - room
            text = text[: max(room // 2, len(text) - over)]
        return text + marker

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
        budgets = self.limits.budgets
        wait = await self.pacer.claim(budgets, PREVIEW_RESERVE)
        if wait > 0:
            self._next_at = self._loop.time() + wait
            self._wake.set()
            return
        try:
            if self.message_id is None:
                self.message_id = await self.outbox.send(text, reply_to=self.reply_to,
                                                         controls=False)
                if self.on_sent is not None:
                    await self.on_sent(self.message_id)
            else:
                await self.outbox.edit(self.message_id, text, controls=False)
            self._shown = text
        except RetryLater as exc:  # try again, with the newest text, when allowed
            self._next_at = self._retry_until = self._loop.time() + exc.seconds
            self._wake.set()
            return
        except SendError as exc:
            log.warning("streaming preview failed: %s", exc)
            if not self._shown:  # an adopted message that is gone: the next push sends anew
                self.message_id = None
        self._next_at = self._loop.time() + self.limits.edit_interval_s

    def written(self) -> None:
        """The model has finished: no preview starts from now on (the final text follows)."""
        self._done.set()
        self._wake.set()

    async def finish(self) -> str | None:
        """Stop previewing (a send in flight completes); the preview's message id, if any.

        The final text follows at once, within the platform's budgets (no edit interval: the
        interval spaces previews, and the reader waits for the end)."""
        self._done.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        delay = self._retry_until - self._loop.time()
        if self.message_id is not None and delay > 0:  # the platform asked to wait
            await asyncio.sleep(delay)
        return self.message_id

    def cancel(self) -> None:
        """Stop without a final message (the turn was cancelled)."""
        self._done.set()
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
