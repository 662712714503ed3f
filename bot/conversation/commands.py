"""The platform-neutral command layer: `/blend …`, `/persona …`, `/reset`, `/stats`
(`/remember …` and `/experiment …` in their own files).

Adapters parse the platform's command into an `InboundEvent` (whether the user is an admin
there included) and arguments, and render the `CommandResult`; the meaning lives only here.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines import BlendError
from engines.policies import parse_weights
from persona import CardError, load_card

from ..personas import flag_nsfw
from ..reports.scheduler import ReportService, ScheduleError, parse_schedule
from ..storage import ChannelState
from .inbound import InboundEvent
from .nsfw import NotAllowedHere
from .service import ChatService

ADMIN_ONLY = "Only admins can change this channel's settings; nothing was changed."


@dataclass(frozen=True, slots=True)
class CommandResult:
    text: str
    ok: bool = True  # False: refused or invalid (Discord shows it only to the user)
    greeting: str | None = None  # a persona greeting to post in the channel


def _refuse(text: str) -> CommandResult:
    return CommandResult(text, ok=False)


def _on_off(value: str) -> bool | None:
    return {"on": True, "off": False}.get(value.strip().lower())


class Commands:
    def __init__(self, service: ChatService, reports: ReportService | None = None) -> None:
        from .experiment_commands import ExperimentCommands
        from .memory_commands import MemoryCommands
        from .privacy_commands import PrivacyCommands
        from .safety_commands import SafetyCommands

        self.service = service
        self.reports = reports
        self.memory = MemoryCommands(service)  # /remember, /memories, /forget_memory
        self.safety = SafetyCommands(service)  # /access, /quota, /usage, /moderation
        self.privacy = PrivacyCommands(service)  # /forget, /nsfw
        self.experiment = ExperimentCommands(service)  # /experiment start|status|stop

    def modes(self) -> list[str]:
        """The blend modes this process can serve."""
        return list(self.service.engine.modes)

    def model_ids(self) -> list[str]:
        return list(self.service.engine.model_ids)

    async def persona_names(self) -> list[str]:
        return [p.name for p in await self.service.personas.all()]

    async def _channel(self, ctx: InboundEvent) -> ChannelState:
        return await self.service.channel(ctx)

    # ---- /blend ---------------------------------------------------------------------------

    async def blend_mode(self, ctx: InboundEvent, mode: str,
                         model: str | None = None) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        mode = mode.strip().lower()
        model_id = model.strip() if model else None
        if mode == "single" and model_id is None:
            model_id = self.service.engine.model_ids[0]
        try:
            channel = await self.service.set_blend(
                await self._channel(ctx), mode=mode,
                model_id=model_id if mode == "single" else None, actor=ctx)
        except BlendError as exc:
            return _refuse(f"Cannot use that: {exc}.")
        detail = f" ({channel.model_id})" if mode == "single" else ""
        return CommandResult(f"Blend mode is now {mode}{detail}.")

    async def blend_models(self, ctx: InboundEvent) -> CommandResult:
        engine = self.service.engine
        lines = [f"• {m} (default weight {engine.default_weights.get(m, 1.0):g})"
                 for m in engine.model_ids]
        return CommandResult("Models in this blend:\n" + "\n".join(lines))

    async def blend_weights(self, ctx: InboundEvent, spec: str) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        try:
            weights = parse_weights(spec)
            channel = await self.service.set_blend(
                await self._channel(ctx), mode="weighted", weights=weights, actor=ctx)
        except BlendError as exc:
            return _refuse(f"Cannot use those weights: {exc}.")
        shown = ", ".join(f"{k}={v:g}" for k, v in (channel.weights or {}).items())
        return CommandResult(f"Blend mode is now weighted: {shown}.")

    async def blend_status(self, ctx: InboundEvent) -> CommandResult:
        channel = await self._channel(ctx)
        blend = self.service.blend_of(channel)
        persona = await self.service.persona_of(channel)
        weights = blend.weights or self.service.engine.default_weights
        lines = [
            f"Mode: {blend.mode}"
            + (f" ({blend.model_id or self.service.engine.model_ids[0]})"
               if blend.mode == "single" else ""),
            "Weights: " + ", ".join(f"{k}={v:g}" for k, v in weights.items()),
            *([await self._learned_shares(channel)] if blend.mode == "learned" else []),
            f"Persona: {persona.name}",
            f"Answers: {'every message' if channel.answer_all else 'mentions and replies'}",
            f"Disclose model: {'on' if channel.disclose else 'off'}",
        ]
        experiment = await self.service.experiments.running(channel.community_id)
        if experiment is not None:
            arms = ", ".join(f"{a.arm}={a.shown}" for a in experiment.arms)
            lines.append(f"Experiment {experiment.name} is running: each user's replies use "
                         f"their arm ({arms}), not this mode")
        return CommandResult("\n".join(lines))

    async def _learned_shares(self, channel: ChannelState) -> str:
        """`learned`: each healthy member's chance of answering the next reply."""
        members = self.service.engine.available_members()
        now = await self.service.learning.shares(channel.community_id, members)
        return "Learned shares: " + ", ".join(f"{m} {p:.0%}" for m, p in now.items())

    async def _flag(self, ctx: InboundEvent, field: str, value: str,
                    on_text: str, off_text: str) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        flag = _on_off(value)
        if flag is None:
            return _refuse("Say on or off.")
        channel = await self._channel(ctx)
        await self.service.store.update_channel(channel.id, **{field: flag})
        return CommandResult(on_text if flag else off_text)

    async def blend_channel(self, ctx: InboundEvent, value: str) -> CommandResult:
        return await self._flag(ctx, "answer_all", value,
                                "I'll answer every message in this channel.",
                                "I'll answer only when mentioned or replied to.")

    async def blend_disclose(self, ctx: InboundEvent, value: str) -> CommandResult:
        return await self._flag(ctx, "disclose", value,
                                "Each reply will name the model that wrote it.",
                                "Replies will no longer name their model.")

    # ---- /persona -------------------------------------------------------------------------

    async def persona_list(self, ctx: InboundEvent) -> CommandResult:
        current = await self.service.persona_of(await self._channel(ctx))
        lines = [f"{'▶' if p.ref == current.ref else '•'} {p.name}"
                 + (f" (#{p.ref.split(':', 1)[1]})" if p.source == "imported" else "")
                 for p in await self.service.personas.all()]
        return CommandResult("Personas:\n" + "\n".join(lines))

    async def persona_set(self, ctx: InboundEvent, name: str) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        channel = await self._channel(ctx)
        try:
            choice = await self.service.set_persona(channel, name, actor=ctx)
        except LookupError as exc:
            return _refuse(str(exc).strip("'\""))
        except NotAllowedHere as exc:
            return _refuse(f"{exc} The persona is unchanged.")
        greeting = await self.service.greet(ctx)
        return CommandResult(f"This channel now talks to {choice.name}.",
                             greeting=greeting)

    async def persona_import(self, ctx: InboundEvent, data: bytes,
                             filename: str = "card", nsfw: bool = False) -> CommandResult:
        """Import a card; `nsfw`: the admin marks it NSFW (whatever its own tags say)."""
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        try:
            card, avatar = load_card(data)
        except CardError as exc:
            return _refuse(f"Cannot import {filename}: {exc}.")
        if nsfw:
            card = flag_nsfw(card)
        ident, _ = await self.service.library.add_persona(card, avatar)
        return CommandResult(f"Imported {card.name} (#{ident}). Use it with "
                             f"/persona set {card.name}.")

    # ---- /reset, /stats, greeting ---------------------------------------------------------

    async def reset(self, ctx: InboundEvent) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        await self.service.reset(await self._channel(ctx))
        greeting = await self.service.greet(ctx)
        return CommandResult("Conversation cleared; I start afresh.",
                             greeting=greeting)

    async def stats(self, ctx: InboundEvent) -> CommandResult:
        channel = await self._channel(ctx)
        replies = self.service.replies
        here = await replies.stats(channel_id=channel.id)
        everywhere = await replies.stats(community_id=channel.community_id)

        def block(title: str, s) -> str:
            share = ", ".join(f"{m} {p:.0%}" for m, p in s.model_share.items()) or "none yet"
            return (f"{title}: {s.messages} messages ({s.user_messages} from {s.users} "
                    f"users, {s.replies} replies). Models: {share}.")

        return CommandResult(block("This channel", here) + "\n"
                             + block("This community", everywhere))

    async def start(self, ctx: InboundEvent) -> CommandResult:
        """A greeting for a new conversation, or a short hello."""
        greeting = await self.service.greet(ctx)
        if greeting is not None:
            return CommandResult(greeting)
        persona = await self.service.persona_of(await self._channel(ctx))
        return CommandResult(f"Hi! I'm {persona.name}. Talk to me and I'll answer.")

    # ---- /report --------------------------------------------------------------------------

    async def _community(self, ctx: InboundEvent) -> int:
        return (await self._channel(ctx)).community_id

    async def report_now(self, ctx: InboundEvent) -> CommandResult:
        """Post this community's report to its report channel (or here if none is set)."""
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        if self.reports is None:
            return _refuse("Reports are not running in this process.")
        community = await self._community(ctx)
        done = await self.reports.send(community, None)
        if done.startswith("No report channel"):
            done = await self.reports.send(community, ctx.channel_id)
        return CommandResult(done)

    async def report_channel(self, ctx: InboundEvent, channel_id: str,
                             channel_name: str = "") -> CommandResult:
        """Send this community's weekly report to `channel_id` (`/report here` passes its own)."""
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        if self.reports is None:
            return _refuse("Reports are not running in this process.")
        schedule = await self.reports.set_channel(await self._community(ctx), channel_id)
        where = channel_name or "this channel"
        return CommandResult(f"Weekly reports will go to {where}, every {schedule.weekday} at "
                             f"{schedule.hour:02d}:00 {schedule.timezone}.")

    async def report_schedule(self, ctx: InboundEvent, weekday: str, hour: str,
                              timezone: str) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        if self.reports is None:
            return _refuse("Reports are not running in this process.")
        try:
            schedule = parse_schedule(weekday, hour, timezone)
        except ScheduleError as exc:
            return _refuse(f"{exc}; the schedule is unchanged.")
        await self.reports.set_schedule(await self._community(ctx), schedule)
        return CommandResult(f"Weekly report: every {schedule.weekday} at "
                             f"{schedule.hour:02d}:00 {schedule.timezone}.")
