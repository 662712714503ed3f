"""`Conversations`: the one entry point of the core. An adapter hands it an `InboundEvent`
and an `Outbox`; the core decides and does the rest, in the stages listed here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from typing import Literal, TypeVar
from uuid import uuid4

from structlog.contextvars import bound_contextvars

from ..logs import log_failure
from ..ops.metrics import Metrics
from ..ratelimit import RateLimiter
from ..reports.scheduler import ReportService
from ..shared_windows import SharedWindows
from ..storage.owed import ReadBack
from ..storage.privacy import Privacy
from .admins import AdminCache
from .commands import CommandResult, Commands
from .inbound import InboundEvent
from .inbox import UpdateInbox
from .menu import MENU, run_text
from .outbox import Outbox
from .owed import OwedTurns, Resend
from .pacing import Pacer
from .pending import PendingMessages
from .pipeline import Outcome, Pipeline, Turn
from .render import deliver, plan
from .safety.modlog import ModLog, PostLine
from .service import ChatService
from .stages.access import Access
from .stages.addressed import Addressed
from .stages.experiment import ExperimentArm
from .stages.generate import Generate
from .stages.limits import RateLimit
from .stages.loopguard import LoopGuard
from .stages.memory import Memory
from .stages.moderation import InputModeration, Moderator, OutputModeration
from .stages.nsfw import PersonaAllowed
from .stages.order import ChannelTurns
from .stages.postprocess import PostProcess
from .stages.prompt import Prompt
from .stages.quota import Quota
from .stages.record import RecordMessage
from .stages.regenerate import GREETING, NOT_LATEST, RegenerateTarget
from .stages.respond import APOLOGY, Respond
from .stages.seen import Seen
from .stages.store import StoreReply

log = logging.getLogger(__name__)
Rating = Literal["up", "down"]
R = TypeVar("R")
ReportSink = Callable[[str, str, bytes | None], Awaitable[None]]
WRITING_AGAIN = "🔄 Writing another reply…"
GONE = "I no longer have this reply."
STOP_WAIT_S = 10.0  # at shutdown, how long cancelled turns may take to close their sessions


def turn_ids(event: InboundEvent) -> dict[str, str]:
    """The ids every log record of a turn carries (bound while it runs)."""
    return {"platform": event.platform, "community": event.community_id,
            "channel": event.channel_id, "request": uuid4().hex[:16]}


class Conversations:
    def __init__(self, service: ChatService, reports: ReportService | None = None,
                 pacer: Pacer | None = None, shared: SharedWindows | None = None,
                 metrics: Metrics | None = None) -> None:
        self.service = service
        self.metrics = metrics or Metrics()
        self._connected: dict[str, bool] = {}
        self.commands = Commands(service, reports)
        self.reports = reports
        self.shared = shared  # Redis, shared by the bot's processes (None: in process)
        self.pacer = pacer or Pacer(shared=shared, observe=self.metrics.paced)
        self.admins = AdminCache()  # adapters' "is this user an admin here?" answers
        self.pending = PendingMessages()
        self.owed = OwedTurns(service.store)  # replies owed by turns in flight, or that died
        self.inbox = UpdateInbox(service.store)  # pushed updates, recorded before acked
        options = service.options
        self.order = order = ChannelTurns()
        respond = Respond(service, self.pacer, self.pending)
        prompt, generate = Prompt(service), Generate(service.engine)
        memory = Memory(service.memory, options.sampling.max_tokens or 256)
        self.modlog = ModLog()  # where safety events are posted, per platform
        safety, moderator = service.safety, Moderator(service.safety, options.safety,
                                                      self.modlog)
        quota = Quota(service, safety, options.safety)
        reply = (PersonaAllowed(service), ExperimentArm(service), prompt, memory, generate,
                 LoopGuard(generate), OutputModeration(moderator, generate),
                 PostProcess(service.secrets), StoreReply(service))
        self.turns = Pipeline([
            order, respond, Addressed(service), Seen(self.pending),
            Access(safety, self.modlog),
            RateLimit(service, RateLimiter(options.rate_limit, options.rate_window_s,
                                           shared=shared),
                      options.rate_limit_exempt),
            quota, InputModeration(moderator), RecordMessage(service, self.pending, self.owed),
            *reply,
        ])
        self.regenerations = Pipeline([order, respond, RegenerateTarget(service), quota,
                                       *reply])
        self._running: set[asyncio.Task[object]] = set()  # the tasks running a turn now

    @contextlib.contextmanager
    def _running_turn(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            yield
        finally:
            self._running.discard(task)

    async def stop(self) -> None:
        """At shutdown, once no new events come: the turns still running are cancelled and
        waited for while the database is open, so each one's session is closed properly (a
        cancelled turn's message is owed a reply, which the next process gives)."""
        running = [t for t in self._running if t is not asyncio.current_task()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=STOP_WAIT_S)
        await self.owed.flush()  # replies shown in the last moment: answered, not owed

    async def handle(self, event: InboundEvent, outbox: Outbox,
                     is_admin: Callable[[], Awaitable[bool]] | None = None) -> Outcome:
        """One inbound message: answered, refused politely, or ignored (with the reason).
        `is_admin` is asked only where it matters (an admin over a budget)."""
        with bound_contextvars(**turn_ids(event)), self._running_turn():
            turn = Turn(event, outbox, ask_admin=is_admin)
            return self._counted(await self.turns.run(turn), turn)

    async def answer_owed(self, platform: str, mine: Callable[[str], bool],
                          resend: Resend) -> None:
        """Until cancelled: answer messages of `platform` whose turn died in a process that
        was killed (their lease lapsed), in the communities `mine(community_id)` says this
        process serves; `resend(channel_id, message_id)` fetches one from the platform and
        hands it to `handle` again (False: it is gone)."""
        await self.owed.serve(platform, mine, resend)

    async def behind(self, platform: str, mine: Callable[[str], bool],
                     community: str | None = None) -> list[ReadBack]:
        """After a fresh session of `platform` (or one `community` back from an outage), what
        to read back: the recent channels of the communities `mine` says this process serves,
        each from its oldest owed message, else after its newest stored one (the adapter hands
        those messages to `handle`, oldest first; stored ones are recognised there, owed ones
        taken over)."""
        return await self.owed.behind(platform, mine, community)

    async def found_preview(self, platform: str, channel_id: str, message_id: str,
                            preview_id: str) -> None:
        """A read-back found `preview_id`, the bot's unfinished reply to `message_id`, whose
        turn died before noting where it showed: the turn that takes the message over
        writes its reply into it (not a second message beside it)."""
        await self.owed.found_preview(platform, channel_id, message_id, preview_id)

    async def command(self, event: InboundEvent,
                      run: Callable[[InboundEvent], Awaitable[R]]) -> R | CommandResult:
        """Run a command of `commands` in the channel's turn (in order with its messages);
        a failure is one polite line."""
        async with self.order.lock(f"{event.platform}:{event.channel_id}"):
            try:
                return await run(event)
            except Exception:
                log_failure(log, "command failed in %s", event.channel_id)
                return CommandResult(APOLOGY, ok=False)

    async def text_command(self, event: InboundEvent, words: Sequence[str], outbox: Outbox,
                           is_admin: Callable[[], Awaitable[bool]]) -> CommandResult | None:
        """A typed command (`/mode single`: `words` without the slash) in the channel's turn,
        its answer shown through `outbox` (quoting it outside DMs), then any greeting it
        brings. `is_admin` is asked only then. None: not a command of the menu."""
        if not words or words[0].lower() not in dict(MENU):
            return None

        async def run(ev: InboundEvent) -> CommandResult | None:
            ev = replace(ev, is_admin=ev.is_admin or await is_admin())
            return await run_text(self.commands, ev, words[0], words[1:])

        result = await self.command(event, run)
        if result is not None:
            quote = None if event.is_dm else event.message_id
            await self.say(outbox, result.text, reply_to=quote)
            if result.greeting:
                await self.say(outbox, result.greeting)
        return result

    async def regenerate(self, event: InboundEvent, target_id: str, outbox: Outbox) -> Outcome:
        """Write the reply shown in platform message `target_id` again and show the new one
        in its place; `event` says who pressed where. Refusals go to `outbox.notify`."""
        try:
            ref = await self.service.replies.find(event.platform, target_id)
        except Exception:
            log_failure(log, "regenerate failed in %s", event.channel_id)
            await outbox.notify(APOLOGY)
            return Outcome("error", APOLOGY, reason="internal")
        refusal = (GONE if ref is None else NOT_LATEST if not ref.latest
                   else GREETING if ref.model_id is None else None)
        if refusal is not None or ref is None:
            await outbox.notify(refusal or GONE)
            return Outcome("notice", refusal or GONE, reason="refused")
        await outbox.notify(WRITING_AGAIN)
        turn = Turn(event, outbox, regenerate_of=ref.message_id)
        with bound_contextvars(**turn_ids(event)), self._running_turn():
            return self._counted(await self.regenerations.run(turn), turn)

    def _counted(self, outcome: Outcome, turn: Turn) -> Outcome:
        """Count and log how a turn ended (ids and labels only, never its text)."""
        mode = turn.request.blend.mode if turn.request is not None else None
        self.metrics.turn(turn.event.platform, outcome.kind, outcome.reason, mode,
                          outcome.model_id)
        if outcome.kind == "reply":
            log.info("reply sent", extra={"model": outcome.model_id, "mode": mode})
        else:
            log.log(logging.DEBUG if outcome.kind == "ignored" else logging.INFO,
                    "turn ended without a reply",
                    extra={"outcome": outcome.kind, "reason": outcome.reason})
        return outcome

    async def feedback(self, event: InboundEvent, target_id: str, rating: Rating, *,
                       remove: bool = False, toggle: bool = False) -> str | None:
        """👍/👎 from `event`'s user on the reply in platform message `target_id`.

        `toggle`: a second press takes it back. Returns a short line to show the user where
        the platform has room for one (None: not a reply of the bot's)."""
        label = "👍" if rating == "up" else "👎"
        try:
            ref = await self.service.replies.find(event.platform, target_id)
            if ref is None:
                return None if not toggle else GONE
            if await self.service.feedback(event, ref.message_id, rating, remove=remove):
                return f"Took back your {label}" if remove else f"Thanks for the {label}"
            if toggle:
                await self.service.feedback(event, ref.message_id, rating, remove=True)
                return f"Took back your {label}"
            return f"Thanks for the {label}"
        except Exception:
            log_failure(log, "feedback failed in %s", event.channel_id)
            return APOLOGY

    # ---- what adapters may show ------------------------------------------------------

    async def greet(self, event: InboundEvent) -> str | None:
        """The persona's greeting when the channel's conversation is just starting (stored)."""
        return await self.service.greet(event)

    async def persona_name(self, event: InboundEvent) -> str:
        return (await self.service.persona_of(await self.service.channel(event))).name

    async def say(self, outbox: Outbox, text: str, *, reply_to: str | None = None) -> None:
        """Show a plain text (a command's answer, a greeting): split and paced like replies."""
        await deliver(outbox, plan(text, outbox.limits, reply_to=reply_to), self.pacer)

    async def community_left(self, platform: str, community_id: str) -> None:
        """The bot was removed from a community: its data is deleted after the grace period
        (`community_grace_days`) unless `community_back` comes first."""
        try:
            if await Privacy(self.service.store).left(platform, community_id):
                log.info("removed from a community; its data goes after the grace period",
                         extra={"platform": platform, "community": community_id})
        except Exception:
            log_failure(log, "could not note leaving community %s", community_id)

    async def community_back(self, platform: str, community_id: str) -> None:
        """The bot is in a community (again): nothing of it is to be deleted."""
        try:
            await Privacy(self.service.store).returned(platform, community_id)
        except Exception:
            log_failure(log, "could not note being in community %s", community_id)

    def platform_connected(self, platform: str, up: bool = True) -> None:
        """The adapter's connection to its platform came up (or went down), for `/readyz`."""
        self._connected[platform] = up

    def connected(self, platform: str) -> bool:
        return self._connected.get(platform, False)

    def register_modlog_sink(self, platform: str, post: PostLine) -> None:
        """How this platform posts a mod-log line: `post(channel_id, text)`."""
        self.modlog.register(platform, post)

    def register_report_sink(self, platform: str, sink: ReportSink) -> None:
        """Where this platform's weekly reports go: `sink(channel_id, text, png)`."""
        if self.reports is not None:
            self.reports.register_sink(platform, sink)
