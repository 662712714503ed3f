"""Sending replies to Discord: typing, throttled streaming edits, 2,000-character parts,
a model footer when disclosed, a 🔄 button, and no mentions ever."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import discord

from ...service import ChatService, Reply
from ..text import split_message

LIMIT = 2000
EDIT_INTERVAL_S = 1.0
NO_MENTIONS = discord.AllowedMentions.none()
REGENERATE_ID = "blendbot:regenerate"
PLATFORM = "discord"


class RegenerateView(discord.ui.View):
    """The 🔄 button under each reply; persistent, so it works after a restart."""

    def __init__(self, on_click: Callable[[discord.Interaction], Awaitable[None]]) -> None:
        super().__init__(timeout=None)
        self._on_click = on_click
        button: discord.ui.Button[RegenerateView] = discord.ui.Button(
            emoji="🔄", style=discord.ButtonStyle.secondary, custom_id=REGENERATE_ID
        )
        button.callback = self._clicked  # type: ignore[method-assign]
        self.add_item(button)

    async def _clicked(self, interaction: discord.Interaction) -> None:
        await self._on_click(interaction)


def footer(reply: Reply, disclose: bool) -> str:
    if disclose and reply.model_id:
        return f"\n-# written by {reply.model_id}"
    return ""


class ReplySender:
    """Posts one reply into a channel, editing in place as text streams in."""

    def __init__(self, service: ChatService, view: discord.ui.View) -> None:
        self.service = service
        self.view = view

    async def stream(
        self,
        channel: discord.abc.Messageable,
        items: AsyncIterator[str | Reply],
        reference: discord.Message | None,
        disclose: bool,
    ) -> Reply | None:
        """Show pieces as they come (at most one edit per second), then the final reply."""
        sent: list[discord.Message] = []
        text = ""
        last_edit = 0.0
        final: Reply | None = None
        async with channel.typing():
            async for item in items:
                if isinstance(item, Reply):
                    final = item
                    break
                text += item
                now = time.monotonic()
                if text.strip() and len(text) <= LIMIT and now - last_edit >= EDIT_INTERVAL_S:
                    await self._show(channel, sent, [text.strip() + " …"], reference, None)
                    last_edit = time.monotonic()
        if final is not None:
            await self.finish(channel, sent, final, reference, disclose)
        return final

    async def finish(
        self,
        channel: discord.abc.Messageable,
        sent: list[discord.Message],
        reply: Reply,
        reference: discord.Message | None,
        disclose: bool,
    ) -> list[discord.Message]:
        """The reply in full: its parts, the 🔄 button on a stored reply, deliveries kept."""
        stored = reply.kind == "reply" and reply.message_id is not None
        parts = split_message(reply.text + footer(reply, disclose), LIMIT)
        messages = await self._show(channel, sent, parts, reference, self.view if stored
                                    and reply.model_id else None)
        if stored:
            for index, message in enumerate(messages):
                await self.service.replies.add_delivery(
                    reply.message_id, PLATFORM, str(message.id), index  # type: ignore[arg-type]
                )
        return messages

    async def _show(
        self,
        channel: discord.abc.Messageable,
        sent: list[discord.Message],
        parts: Sequence[str],
        reference: discord.Message | None,
        view: discord.ui.View | None,
    ) -> list[discord.Message]:
        """Make `sent` show `parts`: edit what exists, send the rest, delete leftovers."""
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            kwargs = {"content": part, "allowed_mentions": NO_MENTIONS}
            if last and view is not None:
                kwargs["view"] = view
            if index < len(sent):
                if sent[index].content != part or (last and view is not None):
                    sent[index] = await sent[index].edit(**kwargs)
            elif index == 0 and reference is not None:
                sent.append(await reference.reply(mention_author=False, **kwargs))
            else:
                sent.append(await channel.send(**kwargs))
        for extra in sent[len(parts):]:
            await extra.delete()
        del sent[len(parts):]
        return sent
