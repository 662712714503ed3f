"""`ChatService`: a channel's state and settings, and the writes a turn makes.

The stages of `bot.conversation` and the command layer call it; adapters never do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from engines import BlendedEngine, BlendSettings, Generation, SamplingParams
from persona import GLOBAL_SYSTEM_PROMPT, pick_greeting

from ..analytics.learned import RewardWeights
from ..personas import PersonaChoice, Personas
from ..storage import ChannelState, Store, StoredMessage
from ..storage.candidates import storing
from ..storage.events import Events
from ..storage.feedback import FeedbackKind, Replies, delivery, replacing
from ..storage.library import Library
from ..storage.memory import Memories
from ..storage.safety import SafetyStore
from ..storage.store import AlsoWrite
from .experiments import ExperimentArms
from .inbound import InboundEvent
from .learning import Learning
from .memory import ChannelMemory
from .nsfw import NotAllowedHere, NsfwGate
from .safety.hygiene import Secrets
from .safety.options import SafetyOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    default_mode: str = "uniform"
    history_limit: int = 200
    bot_name: str = "Blendbot"
    global_system: str = GLOBAL_SYSTEM_PROMPT
    sampling: SamplingParams = field(default_factory=SamplingParams)
    rate_limit: int = 6  # messages per user ...
    rate_window_s: float = 30.0  # ... in this many seconds
    rate_limit_exempt: tuple[str, ...] = ("console",)  # platforms without a limit
    facts_budget: int = 200  # tokens of pinned facts in a prompt (the answering model's)
    learned_rewards: RewardWeights = field(default_factory=RewardWeights)  # `learned` mode
    safety: SafetyOptions = field(default_factory=SafetyOptions)  # budgets, moderation
    secrets: tuple[str, ...] = field(default=(), repr=False)  # never sent, whatever is written


class ChatService:
    def __init__(self, store: Store, engine: BlendedEngine, options: ServiceOptions) -> None:
        self.store = store
        self.engine = engine
        self.options = options
        self.library = Library(store)
        self.personas = Personas(self.library, options.bot_name)
        self.replies = Replies(store)
        self.events = Events(store)
        self.memory = ChannelMemory(Memories(store), engine, options.facts_budget)
        self.learning = Learning(store, engine, options.learned_rewards)
        self.safety = SafetyStore(store)
        self.secrets = Secrets(options.secrets)
        self.nsfw = NsfwGate(store)
        self.experiments = ExperimentArms(store)

    async def blend_for_reply(self, channel: ChannelState,
                              arm: BlendSettings | None = None) -> BlendSettings:
        """The channel's blend (or the user's experiment `arm`), with what `learned` needs:
        its community's evidence."""
        blend = arm or self.blend_of(channel)
        if blend.mode != "learned":
            return blend
        return replace(blend, arms=await self.learning.arms(channel.community_id))

    def blend_of(self, channel: ChannelState) -> BlendSettings:
        return BlendSettings(
            mode=channel.mode or self.options.default_mode,
            model_id=channel.model_id,
            weights=channel.weights or {},
        )

    async def channel(self, msg: InboundEvent) -> ChannelState:
        return await self.store.ensure_channel(
            msg.platform, msg.community_id, msg.community_name or msg.community_id,
            msg.channel_id, msg.channel_name or msg.channel_id,
        )

    async def set_blend(
        self,
        channel: ChannelState,
        mode: str | None = None,
        model_id: str | None = None,
        weights: Mapping[str, float] | None = None,
        actor: InboundEvent | None = None,
    ) -> ChannelState:
        """Change a channel's blend after checking the engine can serve it (`BlendError`).

        A change of mode is recorded (by `actor`, if given) for the reports' mode comparison.
        """
        current = self.blend_of(channel)
        wanted = BlendSettings(
            mode=mode or current.mode,
            model_id=model_id if model_id is not None else current.model_id,
            weights=dict(weights) if weights is not None else current.weights,
        )
        self.engine.check(wanted)
        updated = await self.store.update_channel(
            channel.id, mode=wanted.mode, model_id=wanted.model_id,
            weights=dict(wanted.weights) or None,
        )
        if wanted.mode != (channel.mode or None):
            await self._record(channel, "mode", wanted.mode, actor)
        return updated

    async def _record(self, channel: ChannelState, setting: str, value: str | None,
                      actor: InboundEvent | None) -> None:
        user_id = None
        if actor is not None:
            user_id = await self.store.ensure_user(actor.platform, actor.user_id,
                                                   actor.user_name)
        await self.events.record_setting(channel.id, setting, value, user_id)

    async def set_persona(self, channel: ChannelState, name: str,
                          actor: InboundEvent | None = None) -> PersonaChoice:
        """Give a channel a persona by name or id; `LookupError` names the choices.
        With `actor` (a chat command), an NSFW persona where it is not allowed raises
        `NotAllowedHere` with the reason."""
        choice = await self.personas.find(name)
        if choice is None:
            names = ", ".join(p.name for p in await self.personas.all())
            raise LookupError(f"no persona named '{name}' (choose from {names})")
        if actor is not None and (why := await self.nsfw.refusal(actor, channel, choice)):
            raise NotAllowedHere(why)
        await self.store.update_channel(channel.id, persona=choice.ref)
        if choice.ref != channel.persona:
            await self._record(channel, "persona", choice.name, actor)
        return choice

    async def persona_of(self, channel: ChannelState) -> PersonaChoice:
        return await self.personas.for_ref(channel.persona)

    async def reset(self, channel: ChannelState) -> None:
        """Start this channel's conversation afresh (stored messages stay for analytics)."""
        await self.store.reset_channel(channel.id)

    async def greet(self, msg: InboundEvent) -> str | None:
        """The persona's greeting if the channel's conversation is just starting, stored."""
        channel = await self.channel(msg)
        if await self.store.history(channel.id, limit=1):
            return None
        choice = await self.persona_of(channel)
        if await self.nsfw.refusal(msg, channel, choice):
            return None  # an NSFW persona no longer allowed here does not speak
        text = pick_greeting(choice.card, msg.user_name, self.engine.rng)
        if text is None:
            return None
        await self.store.add_message(channel.id, "assistant", text, mode="greeting")
        return text

    async def history(self, platform: str, channel_id: str) -> list[StoredMessage]:
        channel = await self.store.find_channel(platform, channel_id)
        return await self.store.history(channel.id) if channel else []

    async def add_user_message(self, channel: ChannelState, event: InboundEvent,
                               at: datetime | None = None,
                               owed_until: datetime | None = None) -> int:
        """Store a user's message, committed; `DuplicateMessage` if its platform id is.
        `owed_until`: the lease of the turn that will answer it."""
        user_id = await self.store.ensure_user(event.platform, event.user_id, event.user_name)
        message_id = await self.store.add_message(
            channel.id, "user", event.text.strip(), user_id=user_id, created_at=at,
            platform_message_id=event.message_id, owed_until=owed_until)
        await self.learning.user_wrote(channel.community_id, channel.id, user_id, message_id)
        return message_id

    async def add_reply(self, channel: ChannelState, mode: str, generation: Generation,
                        replaces: int | None = None, shown_in: Sequence[str] = (),
                        redraws: int = 0, also: Sequence[AlsoWrite] = ()) -> int:
        """Store a reply, its candidates and the platform messages already showing it
        (`shown_in`: a streamed preview, part by part) in one transaction, committed before
        it is shown; a regenerated reply is marked as replaced by it. `redraws`: looping
        replies written before it; `also`: more writes for its transaction."""
        writes: list[AlsoWrite] = [delivery(channel.platform, shown, part)
                                   for part, shown in enumerate(shown_in)]
        if generation.candidates:
            writes.append(storing(generation.candidates))
        if replaces is not None:
            writes.append(replacing(replaces))
        message_id = await self.store.add_message(
            channel.id, "assistant", generation.text, also=[*writes, *also],
            model_id=generation.model_id, mode=mode,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            latency_ms=round(generation.latency_s * 1000),
            **({"loop_redraws": redraws} if redraws else {}),
        )
        if replaces is not None:
            self.store.forget(channel.id)  # the replaced reply leaves its channel's history
        await self.learning.replied(channel.community_id, generation.model_id)
        return message_id

    async def feedback(self, who: InboundEvent, reply_id: int, kind: FeedbackKind,
                       *, remove: bool = False) -> bool:
        """Store (or withdraw) feedback from the user in `who` on a reply; False if it was
        there already."""
        user_id = await self.store.ensure_user(who.platform, who.user_id, who.user_name)
        if remove:
            had = (user_id, kind) in {(u, k) for u, k, _ in await self.replies.feedback(reply_id)}
            await self.replies.remove_feedback(reply_id, user_id, kind)
            if had:
                await self.learning.feedback(reply_id, kind, -1)
            return True
        added = await self.replies.add_feedback(reply_id, user_id, kind)
        if added:
            await self.learning.feedback(reply_id, kind)
        return added
