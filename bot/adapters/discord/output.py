"""Discord's side of the `Outbox`: messages in one channel, thread or DM, the 🔄 button, and
no mentions ever. Discord counts length in characters; discord.py waits out its 429s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from ...conversation import Budget, PlatformLimits, SendError

PLATFORM = "discord"
LIMIT = 2000
NO_MENTIONS = discord.AllowedMentions.none()
REGENERATE_ID = "blendbot:regenerate"


BOT_BUDGET = Budget("discord:bot", 50, 1.0)


def limits_for(channel_id: int) -> PlatformLimits:
    """2,000 characters; about one edit a second; 50 requests a second per bot (Discord's
    global limit, shared by every process with BLENDBOT_REDIS_URL). The per-route budgets
    come with each answer's rate-limit headers, and discord.py waits them out itself."""
    return PlatformLimits(max_chars=LIMIT, edit_interval_s=1.0, footer="-# written by {model}",
                          budgets=(BOT_BUDGET,))


class RegenerateView(discord.ui.View):
    """The 🔄 button under each reply; persistent, so it works after a restart."""

    def __init__(self, on_click: Callable[[discord.Interaction], Awaitable[None]]) -> None:
        super().__init__(timeout=None)
        self._on_click = on_click
        button: discord.ui.Button[RegenerateView] = discord.ui.Button(
            emoji="🔄", style=discord.ButtonStyle.secondary, custom_id=REGENERATE_ID)
        button.callback = self._clicked  # type: ignore[method-assign]
        self.add_item(button)

    async def _clicked(self, interaction: discord.Interaction) -> None:
        await self._on_click(interaction)


class ChannelOutbox:
    """Sends into `channel`; `interaction`, when given, receives the private notes."""

    def __init__(self, channel: Any, view: discord.ui.View | None = None,
                 interaction: discord.Interaction | None = None) -> None:
        self.channel = channel  # a TextChannel, Thread or DMChannel
        self.view = view
        self.interaction = interaction
        self.limits = limits_for(channel.id)

    async def send(self, text: str, *, reply_to: str | None, controls: bool) -> str:
        kwargs: dict[str, Any] = {"content": text, "allowed_mentions": NO_MENTIONS}
        if controls and self.view is not None:
            kwargs["view"] = self.view
        if reply_to is not None:
            kwargs["reference"] = discord.MessageReference(
                message_id=int(reply_to), channel_id=self.channel.id, fail_if_not_exists=False)
            kwargs["mention_author"] = False
        try:
            message = await self.channel.send(**kwargs)
        except discord.HTTPException as exc:
            raise SendError(f"Discord refused a message: {exc.status}") from exc
        return str(message.id)

    async def edit(self, message_id: str, text: str, *, controls: bool) -> None:
        message = self.channel.get_partial_message(int(message_id))
        try:
            await message.edit(content=text, allowed_mentions=NO_MENTIONS,
                               view=self.view if controls else None)
        except discord.HTTPException as exc:
            raise SendError(f"Discord refused an edit: {exc.status}") from exc

    async def delete(self, message_id: str) -> None:
        try:
            await self.channel.get_partial_message(int(message_id)).delete()
        except discord.HTTPException as exc:
            raise SendError(f"Discord refused a delete: {exc.status}") from exc

    async def typing(self) -> None:
        await self.channel.typing()

    async def notify(self, text: str) -> None:
        if self.interaction is not None:
            await self.interaction.followup.send(text, ephemeral=True,
                                                 allowed_mentions=NO_MENTIONS)
