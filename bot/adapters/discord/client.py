"""The Discord bot: gateway events translated into `InboundEvent`s for the core."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import re
from typing import Any

import discord
from discord.ext import commands as ext

from ...conversation import Conversations, InboundEvent
from .catchup import CatchUp
from .output import NO_MENTIONS, PLATFORM, ChannelOutbox, RegenerateView
from .slash import age_restricted, build, event_of, roles_of

log = logging.getLogger(__name__)
FEEDBACK = {"👍": "up", "👎": "down"}
HANDLER_GRACE_S = 2.0  # at close, how long running event handlers may take to finish
IDENTIFY_EVERY_S = 5.0  # Discord: one IDENTIFY per max_concurrency bucket per 5 seconds


def intents() -> discord.Intents:
    """What the bot hears; Message Content is privileged: enable it in the Developer Portal."""
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True,
                           guild_reactions=True, dm_reactions=True, message_content=True)


class BlendBot(ext.AutoShardedBot):
    def __init__(self, core: Conversations, shard_ids: list[int] | None = None,
                 shard_count: int | None = None, dev_guild: int | None = None,
                 gateway_url: str | None = None, **options: Any) -> None:
        if shard_ids is not None:  # else all shards (discord.py asks Discord how many)
            options.update(shard_ids=shard_ids, shard_count=shard_count)
        super().__init__(command_prefix=ext.when_mentioned, intents=intents(),
                         allowed_mentions=NO_MENTIONS, help_command=None,
                         http_trace=core.metrics.http_trace(PLATFORM), **options)
        self.core = core
        self.dev_guild = dev_guild
        self.regenerate_view = RegenerateView(self.regenerate)
        self._max_concurrency: int | None = None  # session_start_limit's, asked once
        self._owed: asyncio.Task[None] | None = None
        self.catch_up = CatchUp(self, core, self._handle)
        if gateway_url:
            self._override_gateway(gateway_url)

    def _override_gateway(self, url: str) -> None:
        """Use `url` even where Discord's GET /gateway/bot names its own gateway."""
        ask = self.http.get_bot_gateway

        async def get_bot_gateway(*args: Any, **kwargs: Any) -> Any:
            shards, _, limits = await ask(*args, **kwargs)
            return shards, url, limits

        self.http.get_bot_gateway = get_bot_gateway  # type: ignore[method-assign]

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """With BLENDBOT_REDIS_URL, one IDENTIFY per `max_concurrency` bucket every 5 s across
        all processes of the bot (a Redis lock per bucket); else discord.py's own pacing."""
        shared = self.core.shared
        if shared is not None and shard_id is not None:
            if self._max_concurrency is None:
                _, _, limits = await self.http.get_bot_gateway()
                self._max_concurrency = max(1, int(limits.get("max_concurrency", 1)))
            bot = hashlib.sha256((self.http.token or "").encode()).hexdigest()[:16]
            key = f"discord:identify:{bot}:{shard_id % self._max_concurrency}"
            if await shared.take_turn(key, IDENTIFY_EVERY_S):
                return
        await super().before_identify_hook(shard_id, initial=initial)

    async def setup_hook(self) -> None:
        for command in build(self.core):
            self.tree.add_command(command)
        self.add_view(self.regenerate_view)
        self.core.register_report_sink(PLATFORM, self.send_report)
        self.core.register_modlog_sink(PLATFORM, self.post_line)
        guild = discord.Object(self.dev_guild) if self.dev_guild else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d application commands", len(synced))
        self._owed = asyncio.create_task(self._answer_owed(), name="owed")

    async def _answer_owed(self) -> None:
        await self.wait_until_ready()  # the guilds are cached
        await self.core.answer_owed(PLATFORM, self.has_guild_of, self.resend)

    async def close(self) -> None:
        if self._owed is not None:
            self._owed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._owed
        await self.catch_up.close()
        await super().close()
        await self._stop_handlers()

    async def _stop_handlers(self) -> None:
        """Event handlers still running (a slash command, a reaction, a turn) get a moment to
        finish, then are cancelled and waited for: none is left holding a database session
        when the store closes. (discord.py names its event tasks "discord.py: on_…".)"""
        me = asyncio.current_task()
        running = [t for t in asyncio.all_tasks()
                   if t is not me and t.get_name().startswith("discord.py: ")]
        if not running:
            return
        _, left = await asyncio.wait(running, timeout=HANDLER_GRACE_S)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=10.0)

    def serves(self, community_id: str) -> bool:
        """Whether this process's shards carry the community (a DM: shard 0's)."""
        if self.shard_ids is None or not self.shard_count:
            return True
        shard = int(community_id) >> 22 if community_id.isdigit() else 0
        return shard % self.shard_count in self.shard_ids

    def has_guild_of(self, community_id: str) -> bool:
        """Served here, and (a server) available: its messages can be handled now."""
        return self.serves(community_id) and (
            not community_id.isdigit() or self.get_guild(int(community_id)) is not None)

    async def resend(self, channel_id: str, message_id: str) -> bool:
        """A message whose turn died with a killed process, fetched and handled again."""
        try:
            channel: Any = (self.get_channel(int(channel_id))
                            or await self.fetch_channel(int(channel_id)))
            message = await channel.fetch_message(int(message_id))
        except (discord.NotFound, discord.Forbidden):
            return False
        await self._handle(message)
        return True

    async def on_shard_connect(self, shard_id: int) -> None:  # a fresh session, not a resume
        self.catch_up.connected(shard_id)

    async def on_shard_ready(self, shard_id: int) -> None:
        await self.catch_up.shard_ready(shard_id)

    async def on_connect(self) -> None:
        self.core.platform_connected(PLATFORM)

    async def on_resumed(self) -> None:
        self.core.platform_connected(PLATFORM)

    async def on_disconnect(self) -> None:
        self.core.platform_connected(PLATFORM, False)

    # ---- joining and leaving servers --------------------------------------------------

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed (kicked, banned, or the server was deleted): its data goes after the
        grace period unless the bot comes back."""
        await self.core.community_left(PLATFORM, str(guild.id))

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.core.community_back(PLATFORM, str(guild.id))

    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.catch_up.guild_available(guild)
        await self.core.community_back(PLATFORM, str(guild.id))

    # ---- messages ---------------------------------------------------------------------

    def inbound(self, message: discord.Message) -> InboundEvent:
        guild, author, me = message.guild, message.author, self.user
        ref = message.reference
        resolved = ref.resolved if ref is not None else None
        return InboundEvent(
            platform=PLATFORM,
            community_id=str(guild.id) if guild else f"dm-{author.id}",
            community_name=guild.name if guild else f"DM with {author.display_name}",
            channel_id=str(message.channel.id),
            channel_name=getattr(message.channel, "name", None) or "DM",
            user_id=str(author.id), user_name=author.display_name,
            text=self.text_of(message),
            message_id=str(message.id),
            reply_to_id=str(ref.message_id) if ref is not None and ref.message_id else None,
            replies_to_bot=isinstance(resolved, discord.Message) and me is not None
            and resolved.author.id == me.id,
            reply_to_text=self.text_of(resolved) or None
            if isinstance(resolved, discord.Message) else None,
            reply_to_author=resolved.author.display_name
            if isinstance(resolved, discord.Message) and not resolved.author.bot else None,
            reply_to_user_id=str(resolved.author.id)
            if isinstance(resolved, discord.Message) else None,
            mentions_bot=me is not None and me in message.mentions,
            is_dm=guild is None, attachments=len(message.attachments),
            is_admin=guild is None or (isinstance(author, discord.Member)
                                       and author.guild_permissions.manage_guild),
            role_ids=roles_of(author), age_restricted=age_restricted(message.channel))

    def text_of(self, message: discord.Message) -> str:
        """The message with the bot's own mention removed and other mentions as names."""
        text = message.content
        if self.user is not None:
            text = re.sub(rf"<@!?{self.user.id}>", "", text)
        for user in message.mentions:
            text = re.sub(rf"<@!?{user.id}>", f"@{user.display_name}", text)
        return text.strip()

    async def on_message(self, message: discord.Message) -> None:
        """A new message: after its guild's catch-up, if one runs (see `CatchUp`)."""
        guild_id = message.guild.id if message.guild else getattr(message.channel, "guild_id",
                                                                  None)
        await self.catch_up.passed(guild_id)
        if message.guild is None and guild_id is not None:  # sent before its guild was cached
            guild = self.get_guild(guild_id)
            channel: Any = guild.get_channel_or_thread(message.channel.id) if guild else None
            if channel is None:
                log.warning("message %s: server %s is unavailable; its catch-up reads it",
                            message.id, guild_id)
                return
            try:
                message = await channel.fetch_message(message.id)  # again, with its guild
            except discord.NotFound:
                return
        await self._handle(message)

    async def _handle(self, message: discord.Message) -> None:
        if message.author.bot or (self.user and message.author.id == self.user.id):
            return
        await self.core.handle(self.inbound(message),
                               ChannelOutbox(message.channel, self.regenerate_view))

    async def post_line(self, channel_id: str, text: str) -> None:
        """A mod-log line, in the channel the admins chose (pinging no one)."""
        channel: Any = (self.get_channel(int(channel_id))
                        or await self.fetch_channel(int(channel_id)))
        await channel.send(text[:2000], allowed_mentions=NO_MENTIONS)

    async def send_report(self, channel_id: str, text: str, png: bytes | None) -> None:
        """A weekly report: an embed with the chart as its image."""
        channel: Any = (self.get_channel(int(channel_id))
                        or await self.fetch_channel(int(channel_id)))
        embed = discord.Embed(title="Weekly report", description=text[:4096])
        if png is None:
            await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
            return
        embed.set_image(url="attachment://report.png")
        await channel.send(embed=embed, file=discord.File(io.BytesIO(png), "report.png"),
                           allowed_mentions=NO_MENTIONS)

    # ---- feedback ---------------------------------------------------------------------

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self._reaction(event, remove=False)

    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        await self._reaction(event, remove=True)

    async def _reaction(self, raw: discord.RawReactionActionEvent, remove: bool) -> None:
        rating = FEEDBACK.get(str(raw.emoji))
        if rating is None or (self.user and raw.user_id == self.user.id):
            return
        who = InboundEvent(PLATFORM, str(raw.guild_id or f"dm-{raw.user_id}"),
                           str(raw.channel_id), str(raw.user_id),
                           raw.member.display_name if raw.member else "")
        await self.core.feedback(who, str(raw.message_id), rating,  # type: ignore[arg-type]
                                 remove=remove)

    async def regenerate(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()  # within Discord's 3 s; the core may queue
        if interaction.message is None or interaction.channel is None:
            return
        outbox = ChannelOutbox(interaction.channel, self.regenerate_view, interaction)
        await self.core.regenerate(event_of(interaction), str(interaction.message.id), outbox)
