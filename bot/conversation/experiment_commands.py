"""`/experiment start <name> <arm>=<mode-or-model> ... [days]`, `/experiment status`,
`/experiment stop`: A/B experiments of a community (admins start and stop them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ..storage.experiments import Experiment, ExperimentNameTaken
from ..storage.tables import utcnow
from .commands import CommandResult
from .experiments import NAME, ExperimentInputError, parse_arms
from .inbound import InboundEvent
from .service import ChatService

USAGE = ("Usage: /experiment start <name> <arm>=<mode-or-model> ... [days], e.g. "
         "/experiment start blend-vs-solo blend=uniform solo=single:gemma3-270m 30")
MAX_DAYS = 365
ADMINS_ONLY = "Only admins can start or stop experiments; nothing was changed."


def _refuse(text: str) -> CommandResult:
    return CommandResult(text, ok=False)


def _when(ts: datetime) -> str:
    return f"{ts:%d %b %Y %H:%M} UTC"


class ExperimentCommands:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.arms = service.experiments

    async def _community(self, ctx: InboundEvent) -> int:
        return (await self.service.channel(ctx)).community_id

    async def start(self, ctx: InboundEvent, name: str, specs: Sequence[str],
                    days: str | None = None) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMINS_ONLY)
        name = name.strip()
        if not NAME.match(name):
            return _refuse(f"Experiment names are letters, digits, - _ . (at most 64). {USAGE}")
        span: timedelta | None = None
        if days is not None:
            if not days.isdigit() or not 1 <= int(days) <= MAX_DAYS:
                return _refuse(f"Days must be a whole number from 1 to {MAX_DAYS}; "
                               "nothing was started.")
            span = timedelta(days=int(days))
        try:
            arms = parse_arms(specs, self.service.engine)
        except ExperimentInputError as exc:
            return _refuse(f"Cannot start it: {exc}. {USAGE}")
        community = await self._community(ctx)
        running = await self.arms.table.running(community)
        if running is not None:
            return _refuse(f"Experiment {running.name} is already running here; stop it "
                           "with /experiment stop first. Nothing was started.")
        user = await self.service.store.ensure_user(ctx.platform, ctx.user_id, ctx.user_name)
        now = utcnow()
        try:
            started = await self.arms.table.start(community, name, arms,
                                                  now + span if span else None, user, now)
        except ExperimentNameTaken:
            return _refuse(f"This community already had an experiment named {name}; "
                           "choose another name.")
        self.arms.forget(community)
        shown = ", ".join(f"{a.arm}={a.shown}" for a in started.arms)
        until = f" until {_when(started.ends_at)}" if started.ends_at else " until stopped"
        return CommandResult(f"Experiment {name} started{until}: {shown}. Each user is put "
                             "in an arm the first time they talk to me and keeps it in "
                             "every channel.")

    async def status(self, ctx: InboundEvent) -> CommandResult:
        community = await self._community(ctx)
        experiments = await self.arms.table.all(community)
        now = utcnow()
        current = next((e for e in experiments if e.running(now)), None)
        if current is None:
            last = experiments[0] if experiments else None
            if last is None:
                return CommandResult("No experiment is running here.")
            return CommandResult("No experiment is running here. The last one: "
                                 + await self._describe(last, now))
        return CommandResult(await self._describe(current, now))

    async def _describe(self, e: Experiment, now: datetime) -> str:
        counts = await self.arms.table.counts(e.id)
        arms = ", ".join(f"{a.arm}={a.shown} ({counts.get(a.arm, 0)} users)" for a in e.arms)
        if e.running(now):
            when = (f"running since {_when(e.started_at)}"
                    + (f", ends {_when(e.ends_at)}" if e.ends_at else ", until stopped"))
        else:
            ended = e.ended_at or now
            when = f"ran {_when(e.started_at)} – {_when(ended)}"
        return f"Experiment {e.name}, {when}: {arms}."

    async def stop(self, ctx: InboundEvent) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMINS_ONLY)
        community = await self._community(ctx)
        running = await self.arms.table.running(community)
        if running is None:
            return _refuse("No experiment is running here; nothing was stopped.")
        await self.arms.table.stop(running.id)
        self.arms.forget(community)
        users = sum((await self.arms.table.counts(running.id)).values())
        return CommandResult(f"Experiment {running.name} stopped; {users} users took part. "
                             "Replies follow each channel's own blend again. Read it with "
                             f"blendbot report <community> --experiment {running.name}.")
