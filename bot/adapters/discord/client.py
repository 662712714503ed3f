"""The Discord bot: when to answer, slash commands, feedback reactions and 🔄."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import discord
from discord.ext import commands as ext

from ...app import App
from ...commands import Commands
from ...service import IncomingMessage
from .output import NO_MENTIONS, PLATFORM, RegenerateView, ReplySender
from .shards import ShardPlan
from .slash import build, where

log = logging.getLogger(__name__)
FEEDBACK = {"👍": "up", "👎": "down"}


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.guild_reactions = True
    wanted.dm_reactions = True
    wanted.message_content = True  # privileged: enable it in the Developer Portal
    return wanted


class BlendBot(ext.AutoShardedBot):
    def __init__(self, app: App, shards: ShardPlan, dev_guild: int | None = None,
                 gateway_url: str | None = None, **options: Any) -> None:
        super().__init__(
            command_prefix=ext.when_mentioned,
            intents=intents(),
            allowed_mentions=NO_MENTIONS,
            shard_ids=shards.shard_ids,
            shard_count=shards.shard_count,
            help_command=None,
            **options,
        )
        self.app = app
        self.service = app.service
        self.commands_layer = Commands(app.service, app.reports)
        self.dev_guild = dev_guild
        self.regenerate_view = RegenerateView(self.regenerate)
        self.sender = ReplySender(app.service, self.regenerate_view)
        if gateway_url:
            self._override_gateway(gateway_url)

    def _override_gateway(self, url: str) -> None:
        """Use `url` even where Discord's GET /gateway/bot names its own gateway."""
        ask = self.http.get_bot_gateway

        async def get_bot_gateway():
            shards, _, limits = await ask()
            return shards, url, limits

        self.http.get_bot_gateway = get_bot_gateway  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        for command in build(self.commands_layer, self.service.engine.model_ids,
                             self.post_greeting):
            self.tree.add_command(command)
        self.add_view(self.regenerate_view)
        if self.app.reports is not None:
            self.app.reports.register_sink(PLATFORM, self.send_report)
        guild = discord.Object(self.dev_guild) if self.dev_guild else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d application commands", len(synced))

    # ---- messages -------------------------------------------------------------------------

    def incoming(self, message: discord.Message) -> IncomingMessage:
        guild, author = message.guild, message.author
        return IncomingMessage(
            platform=PLATFORM,
            community_id=str(guild.id) if guild else f"dm-{author.id}",
            community_name=guild.name if guild else f"DM with {author.display_name}",
            channel_id=str(message.channel.id),
            channel_name=getattr(message.channel, "name", None) or "DM",
            user_id=str(author.id),
            user_name=author.display_name,
            text=self.text_of(message),
        )

    def text_of(self, message: discord.Message) -> str:
        """The message with the bot's own mention removed and other mentions as names."""
        assert self.user is not None
        text = re.sub(rf"<@!?{self.user.id}>", "", message.content)
        for user in message.mentions:
            text = re.sub(rf"<@!?{user.id}>", f"@{user.display_name}", text)
        return text.strip()

    async def addressed(self, message: discord.Message) -> bool:
        """DMs always; in servers a mention, a reply to the bot, or an answer-all channel."""
        if message.guild is None:
            return True
        if self.user is not None and self.user in message.mentions:
            return True
        ref = message.reference
        if ref is not None and ref.message_id is not None:
            resolved = ref.resolved
            if isinstance(resolved, discord.Message) and self.user is not None:
                if resolved.author.id == self.user.id:
                    return True
            elif await self.service.replies.find(PLATFORM, str(ref.message_id)):
                return True
        channel = await self.service.store.find_channel(PLATFORM, str(message.channel.id))
        return bool(channel and channel.answer_all)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or (self.user and message.author.id == self.user.id):
            return
        if not await self.addressed(message):
            return
        incoming = self.incoming(message)
        try:
            channel = await self.service.channel(incoming)
            await self.sender.stream(message.channel, self.service.stream(incoming),
                                     message, channel.disclose)
        except discord.HTTPException:
            log.exception("could not send a reply in %s", message.channel.id)

    async def post_greeting(self, interaction: discord.Interaction, text: str) -> None:
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            await channel.send(text, allowed_mentions=NO_MENTIONS)

    async def send_report(self, channel_id: str, text: str, png: bytes | None) -> None:
        """A weekly report: an embed with the chart as its image."""
        channel = self.get_channel(int(channel_id)) or await self.fetch_channel(int(channel_id))
        embed = discord.Embed(title="Weekly report", description=text[:4096])
        if png is None:
            await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)  # type: ignore[union-attr]
            return
        embed.set_image(url="attachment://report.png")
        await channel.send(embed=embed, file=discord.File(io.BytesIO(png), "report.png"),  # type: ignore[union-attr]
                           allowed_mentions=NO_MENTIONS)

    # ---- feedback -------------------------------------------------------------------------

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self._reaction(event, remove=False)

    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        await self._reaction(event, remove=True)

    async def _reaction(self, event: discord.RawReactionActionEvent, remove: bool) -> None:
        kind = FEEDBACK.get(str(event.emoji))
        if kind is None or (self.user and event.user_id == self.user.id):
            return
        ref = await self.service.replies.find(PLATFORM, str(event.message_id))
        if ref is None:
            return
        name = event.member.display_name if event.member else ""
        who = IncomingMessage(PLATFORM, str(event.guild_id or f"dm-{event.user_id}"), "",
                              str(event.channel_id), "", str(event.user_id), name, "")
        await self.service.feedback(who, ref.message_id, kind, remove=remove)  # type: ignore[arg-type]

    async def regenerate(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        ref = await self.service.replies.find(PLATFORM, str(message.id)) if message else None
        if ref is None or not ref.latest:
            await interaction.response.send_message(
                "Only the latest reply can be regenerated.", ephemeral=True)
            return
        await interaction.response.defer()
        reply = await self.service.regenerate(where(interaction), ref.message_id)
        if reply.kind != "reply":
            await interaction.followup.send(reply.text, ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)
            return
        channel = await self.service.store.find_channel(PLATFORM, str(interaction.channel_id))
        sent = []
        for pid in await self.service.replies.deliveries(ref.message_id):
            found = discord.utils.get(self.cached_messages, id=int(pid))
            sent.append(found or await interaction.channel.fetch_message(int(pid)))  # type: ignore[union-attr]
        await self.sender.finish(interaction.channel, sent, reply, None,  # type: ignore[arg-type]
                                 bool(channel and channel.disclose))
