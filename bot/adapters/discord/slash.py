"""Slash commands: `/blend …`, `/persona …`, `/report …`, `/experiment …`, `/reset`,
`/stats`, `/remember`, `/memories`, `/forget_memory`, `/forget`, `/access …`, `/quota …`,
`/usage`, `/moderation …` → the command layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from ...conversation import CommandResult, Commands, Conversations, InboundEvent
from .output import NO_MENTIONS, PLATFORM, ChannelOutbox

ON_OFF = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
ADMIN = discord.Permissions(manage_guild=True)


def age_restricted(channel: Any) -> bool:
    """Discord's age-restricted ("NSFW") flag of a channel; a thread has its parent's, a DM
    none."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def event_of(interaction: discord.Interaction) -> InboundEvent:
    """Who acts where. In a server, admins are members with Manage Server; in a DM the user
    is the admin."""
    user, guild, channel = interaction.user, interaction.guild, interaction.channel
    return InboundEvent(
        platform=PLATFORM,
        community_id=str(guild.id) if guild else f"dm-{user.id}",
        community_name=guild.name if guild else f"DM with {user.display_name}",
        channel_id=str(interaction.channel_id),
        channel_name=getattr(channel, "name", None) or f"DM with {user.display_name}",
        user_id=str(user.id), user_name=user.display_name,
        is_admin=guild is None or interaction.permissions.manage_guild, is_dm=guild is None,
        role_ids=roles_of(user), age_restricted=age_restricted(channel))


def roles_of(user: object) -> tuple[str, ...]:
    """A server member's role ids (not @everyone); none outside a server."""
    if not isinstance(user, discord.Member):
        return ()
    return tuple(str(r.id) for r in user.roles if not r.is_default())


Handler = Callable[[InboundEvent], Awaitable[CommandResult]]


def matching(names: list[str], typed: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the names containing what was typed (Discord shows at most 25)."""
    return [app_commands.Choice(name=n, value=n) for n in names if typed.lower() in n.lower()][:25]


async def answer(interaction: discord.Interaction, core: Conversations, run: Handler, *,
                 private: bool = False) -> None:
    """Run a command in the channel's turn; refusals are shown only to the user who asked.
    A greeting it brings (a new persona, a reset) is posted in the channel for everyone."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    result = await core.command(event_of(interaction), run)
    await interaction.followup.send(result.text, ephemeral=private or not result.ok,
                                    allowed_mentions=NO_MENTIONS)
    if result.greeting and interaction.channel is not None:
        await core.say(ChannelOutbox(interaction.channel), result.greeting)


def build(core: Conversations) -> list[app_commands.Command | app_commands.Group]:
    commands: Commands = core.commands
    model_ids = commands.model_ids()
    blend = app_commands.Group(name="blend", description="How replies are made here",
                               default_permissions=ADMIN)

    @blend.command(name="mode", description="Set the blend mode (and the model for single)")
    @app_commands.describe(mode="how a reply is made", model="the model for single")
    @app_commands.choices(mode=[app_commands.Choice(name=m, value=m) for m in commands.modes()])
    async def mode(interaction: discord.Interaction, mode: str, model: str | None = None
                   ) -> None:
        await answer(interaction, core, lambda ctx: commands.blend_mode(ctx, mode, model))

    @mode.autocomplete("model")
    async def model_names(_: discord.Interaction, current: str
                          ) -> list[app_commands.Choice[str]]:
        return matching(model_ids, current)

    @blend.command(name="models", description="The models in this blend")
    async def models(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.blend_models, private=True)

    @blend.command(name="weights", description="Weighted draw, e.g. smollm2-135m=2,gemma3-270m=1")
    async def weights(interaction: discord.Interaction, spec: str) -> None:
        await answer(interaction, core, lambda ctx: commands.blend_weights(ctx, spec))

    @blend.command(name="status", description="Mode, weights, persona and settings here")
    async def status(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.blend_status, private=True)

    @blend.command(name="channel", description="Answer every message here, or only mentions")
    @app_commands.choices(state=ON_OFF)
    async def channel(interaction: discord.Interaction, state: str) -> None:
        await answer(interaction, core, lambda ctx: commands.blend_channel(ctx, state))

    @blend.command(name="disclose", description="Name the model under each reply")
    @app_commands.choices(state=ON_OFF)
    async def disclose(interaction: discord.Interaction, state: str) -> None:
        await answer(interaction, core, lambda ctx: commands.blend_disclose(ctx, state))

    persona = app_commands.Group(name="persona", description="Who the bot is here",
                                 default_permissions=ADMIN)

    @persona.command(name="set", description="Talk to this persona in this channel")
    async def persona_set(interaction: discord.Interaction, name: str) -> None:
        await answer(interaction, core, lambda ctx: commands.persona_set(ctx, name))

    @persona_set.autocomplete("name")
    async def persona_names(_: discord.Interaction, current: str
                            ) -> list[app_commands.Choice[str]]:
        return matching(await commands.persona_names(), current)

    @persona.command(name="list", description="Bundled and imported personas")
    async def persona_list(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.persona_list, private=True)

    @persona.command(name="import", description="Import a Character Card (.png or .json)")
    @app_commands.describe(nsfw="mark it NSFW: only for age-restricted channels")
    async def persona_import(interaction: discord.Interaction,
                             card: discord.Attachment, nsfw: bool = False) -> None:
        data = await card.read() if card.size <= 50 * 1024 * 1024 else b""
        await answer(interaction, core,
                     lambda ctx: commands.persona_import(ctx, data, card.filename, nsfw))

    @app_commands.command(name="reset", description="Start this channel's conversation afresh")
    @app_commands.default_permissions(manage_guild=True)
    async def reset(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.reset)

    report = app_commands.Group(name="report", description="Weekly engagement reports",
                                default_permissions=ADMIN)

    @report.command(name="now", description="Post this server's report now")
    async def report_now(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.report_now)

    @report.command(name="channel", description="Where the weekly report is posted")
    async def report_channel(interaction: discord.Interaction,
                             channel: discord.TextChannel) -> None:
        await answer(interaction, core, lambda ctx: commands.report_channel(
            ctx, str(channel.id), f"#{channel.name}"))

    @report.command(name="schedule", description="When: weekday, hour (0-23), timezone")
    @app_commands.describe(weekday="mon … sun", hour="0-23", timezone="e.g. UTC, Europe/Berlin")
    async def report_schedule(interaction: discord.Interaction, weekday: str, hour: int,
                              timezone: str = "UTC") -> None:
        await answer(interaction, core, lambda ctx: commands.report_schedule(
            ctx, weekday, str(hour), timezone))

    experiment = app_commands.Group(name="experiment", description="A/B experiments: users "
                                    "split into arms, read by retention",
                                    default_permissions=ADMIN)

    @experiment.command(name="start", description="Split this server's users into arms")
    @app_commands.describe(name="a name for the experiment",
                           arms="arm=mode-or-model ..., e.g. blend=uniform "
                                "solo=single:gemma3-270m",
                           days="end it after this many days (default: until stopped)")
    async def experiment_start(interaction: discord.Interaction, name: str, arms: str,
                               days: int | None = None) -> None:
        await answer(interaction, core, lambda ctx: commands.experiment.start(
            ctx, name, arms.split(), None if days is None else str(days)))

    @experiment.command(name="status", description="The running experiment and its arms")
    async def experiment_status(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.experiment.status, private=True)

    @experiment.command(name="stop", description="Stop the running experiment")
    async def experiment_stop(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.experiment.stop)

    @app_commands.command(name="stats", description="Messages, users and models here")
    async def stats(interaction: discord.Interaction) -> None:
        await answer(interaction, core, commands.stats, private=True)

    memory = commands.memory

    @app_commands.command(name="remember", description="Pin a fact I keep in mind "
                          "(admins: for the channel)")
    async def remember(interaction: discord.Interaction, fact: str) -> None:
        await answer(interaction, core, lambda ctx: memory.remember(ctx, fact))

    @app_commands.command(name="memories", description="Pinned facts and the summary of "
                          "older messages")
    async def memories(interaction: discord.Interaction) -> None:
        await answer(interaction, core, memory.memories, private=True)

    @app_commands.command(name="forget_memory", description="Unpin fact n of /memories")
    async def forget_memory(interaction: discord.Interaction, n: int) -> None:
        await answer(interaction, core, lambda ctx: memory.forget_memory(ctx, str(n)))

    safety = commands.safety
    access = app_commands.Group(name="access", description="Who may talk to the bot here",
                                default_permissions=ADMIN)

    def target(user: discord.User | None, role: discord.Role | None) -> tuple[str, str]:
        return ("role", str(role.id)) if role is not None else (
            "user", str(user.id) if user is not None else "")

    for effect, about in (("allow", "Allow a user or role (then only those allowed talk)"),
                          ("deny", "Ignore a user or the members of a role")):
        def add(effect: str = effect, about: str = about) -> None:
            @access.command(name=effect, description=about)
            @app_commands.describe(here="only in this channel (else the whole server)")
            async def rule(interaction: discord.Interaction, user: discord.User | None = None,
                           role: discord.Role | None = None, here: bool = False) -> None:
                kind, subject = target(user, role)
                await answer(interaction, core,
                             lambda ctx: safety.access(ctx, effect, kind, subject, here))
        add()

    @access.command(name="remove", description="Take a user or role off the lists")
    async def access_remove(interaction: discord.Interaction, user: discord.User | None = None,
                            role: discord.Role | None = None, here: bool = False) -> None:
        kind, subject = target(user, role)
        await answer(interaction, core,
                     lambda ctx: safety.access_remove(ctx, kind, subject, here))

    @access.command(name="list", description="The allow and deny lists here")
    async def access_list(interaction: discord.Interaction) -> None:
        await answer(interaction, core, safety.access_list, private=True)

    quota = app_commands.Group(name="quota", description="Daily token budgets",
                               default_permissions=ADMIN)

    @quota.command(name="user", description="Each member's tokens a day (e.g. 20k, or off)")
    async def quota_user(interaction: discord.Interaction, tokens: str) -> None:
        await answer(interaction, core, lambda ctx: safety.quota(ctx, "user", tokens))

    @quota.command(name="community", description="The server's tokens a day (or off)")
    async def quota_community(interaction: discord.Interaction, tokens: str) -> None:
        await answer(interaction, core, lambda ctx: safety.quota(ctx, "community", tokens))

    @quota.command(name="role", description="Each member of a role: tokens a day (or off)")
    async def quota_role(interaction: discord.Interaction, role: discord.Role,
                         tokens: str) -> None:
        await answer(interaction, core,
                     lambda ctx: safety.quota(ctx, "role", tokens, role=str(role.id)))

    @app_commands.command(name="usage", description="Your tokens today (admins: the server's)")
    async def usage(interaction: discord.Interaction) -> None:
        await answer(interaction, core, safety.usage, private=True)

    moderation = app_commands.Group(name="moderation", description="What I refuse here",
                                    default_permissions=ADMIN)

    @moderation.command(name="word", description="Refuse messages and replies with a word")
    async def moderation_word(interaction: discord.Interaction, word: str) -> None:
        await answer(interaction, core, lambda ctx: safety.moderation_add(ctx, "word", word))

    @moderation.command(name="regex", description="Refuse messages and replies matching a regex")
    async def moderation_regex(interaction: discord.Interaction, pattern: str) -> None:
        await answer(interaction, core,
                     lambda ctx: safety.moderation_add(ctx, "regex", pattern))

    @moderation.command(name="remove", description="Remove entry n of /moderation list")
    async def moderation_remove(interaction: discord.Interaction, n: int) -> None:
        await answer(interaction, core, lambda ctx: safety.moderation_remove(ctx, str(n)))

    @moderation.command(name="list", description="The words, regexes and mod-log here")
    async def moderation_list(interaction: discord.Interaction) -> None:
        await answer(interaction, core, safety.moderation_list, private=True)

    @moderation.command(name="log", description="Where moderation events are logged "
                        "(no channel: off)")
    async def moderation_log(interaction: discord.Interaction,
                             channel: discord.TextChannel | None = None) -> None:
        await answer(interaction, core, lambda ctx: safety.moderation_log(
            ctx, str(channel.id) if channel else None, f"#{channel.name}" if channel else ""))

    @moderation.command(name="text", description="Quote the text in the mod-log")
    @app_commands.choices(state=ON_OFF)
    async def moderation_text(interaction: discord.Interaction, state: str) -> None:
        await answer(interaction, core, lambda ctx: safety.moderation_text(ctx, state))

    privacy = commands.privacy

    @app_commands.command(name="forget", description="Delete what I stored of you here "
                          "(asks first; then /forget confirm)")
    @app_commands.choices(confirm=[app_commands.Choice(name="confirm", value="confirm")])
    async def forget(interaction: discord.Interaction, confirm: str | None = None) -> None:
        await answer(interaction, core, lambda ctx: privacy.forget(ctx, confirm or ""),
                     private=True)

    return [blend, persona, report, experiment, reset, stats, remember, memories,
            forget_memory, forget, access, quota, usage, moderation]
