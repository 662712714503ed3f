"""`ChatService`: the platform-neutral path of one message, from adapter to reply.

store the user turn -> load channel settings and history -> persona prompt -> BlendedEngine
-> store the reply -> hand it back. Adapters only translate platform events into
`IncomingMessage` and render the `Reply`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from engines import (
    BlendedEngine,
    BlendError,
    BlendSettings,
    ChatMessage,
    Generation,
    ModelError,
    ReplyRequest,
    SamplingParams,
)
from engines.gate import BusyError
from persona import GLOBAL_SYSTEM_PROMPT, Lorebook, build_conversation, pick_greeting

from .personas import PersonaChoice, Personas
from .ratelimit import RateLimiter
from .storage import ChannelState, Store, StoredMessage
from .storage.candidates import add_candidates
from .storage.events import Events
from .storage.feedback import FeedbackKind, Replies
from .storage.library import Library

log = logging.getLogger(__name__)
EMPTY_HINT = "(Say something and I'll answer — an empty message gets no reply.)"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    platform: str
    community_id: str
    channel_id: str
    user_id: str
    user_name: str
    text: str
    community_name: str = ""
    channel_name: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back. `kind` is `reply` (stored), `hint` or `error` (not stored)."""

    kind: Literal["reply", "hint", "error"]
    text: str
    model_id: str | None = None
    message_id: int | None = None
    notices: tuple[str, ...] = ()
    generation: Generation | None = None


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


@dataclass(slots=True)
class _Turn:
    channel: ChannelState
    request: ReplyRequest


class ChatService:
    def __init__(self, store: Store, engine: BlendedEngine, options: ServiceOptions) -> None:
        self.store = store
        self.engine = engine
        self.options = options
        self.library = Library(store)
        self.personas = Personas(self.library, options.bot_name)
        self.replies = Replies(store)
        self.events = Events(store)
        self.limiter = RateLimiter(options.rate_limit, options.rate_window_s)

    def blend_of(self, channel: ChannelState) -> BlendSettings:
        return BlendSettings(
            mode=channel.mode or self.options.default_mode,
            model_id=channel.model_id,
            weights=channel.weights or {},
        )

    async def channel(self, msg: IncomingMessage) -> ChannelState:
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
        actor: IncomingMessage | None = None,
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
                      actor: IncomingMessage | None) -> None:
        user_id = None
        if actor is not None:
            user_id = await self.store.ensure_user(actor.platform, actor.user_id,
                                                   actor.user_name)
        await self.events.record_setting(channel.id, setting, value, user_id)

    async def set_persona(self, channel: ChannelState, name: str,
                          actor: IncomingMessage | None = None) -> PersonaChoice:
        """Give a channel a persona by name or id; `LookupError` names the choices."""
        choice = await self.personas.find(name)
        if choice is None:
            names = ", ".join(p.name for p in await self.personas.all())
            raise LookupError(f"no persona named '{name}' (choose from {names})")
        await self.store.update_channel(channel.id, persona=choice.ref)
        if choice.ref != channel.persona:
            await self._record(channel, "persona", choice.name, actor)
        return choice

    async def persona_of(self, channel: ChannelState) -> PersonaChoice:
        return await self.personas.for_ref(channel.persona)

    async def reset(self, channel: ChannelState) -> None:
        """Start this channel's conversation afresh (stored messages stay for analytics)."""
        await self.store.reset_channel(channel.id)

    async def greet(self, msg: IncomingMessage) -> Reply | None:
        """The persona's greeting if the channel's conversation is just starting, stored."""
        channel = await self.channel(msg)
        if await self.store.history(channel.id, limit=1):
            return None
        choice = await self.persona_of(channel)
        text = pick_greeting(choice.card, msg.user_name, self.engine.rng)
        if text is None:
            return None
        message_id = await self.store.add_message(channel.id, "assistant", text, mode="greeting")
        return Reply("reply", text, None, message_id)

    async def history(self, platform: str, channel_id: str) -> list[StoredMessage]:
        channel = await self.store.find_channel(platform, channel_id)
        return await self.store.history(channel.id) if channel else []

    async def _begin(self, msg: IncomingMessage, params: SamplingParams | None) -> _Turn | Reply:
        text = msg.text.strip()
        if not text:
            return Reply("hint", EMPTY_HINT)
        if msg.platform not in self.options.rate_limit_exempt:
            wait = self.limiter.check((msg.platform, msg.user_id))
            if wait:
                return Reply("hint", (
                    f"Slow down a little, {msg.user_name}: at most {self.options.rate_limit} "
                    f"messages every {self.options.rate_window_s:g} s. "
                    f"Try again in {max(1, round(wait))} s."))
        channel = await self.channel(msg)
        user_id = await self.store.ensure_user(msg.platform, msg.user_id, msg.user_name)
        await self.store.add_message(channel.id, "user", text, user_id=user_id)  # committed
        history = await self.store.history(channel.id, self.options.history_limit)
        return await self._turn(channel, history, params, f"{msg.platform}:{msg.channel_id}")

    async def _turn(self, channel: ChannelState, history: list[StoredMessage],
                    params: SamplingParams | None, key: str) -> _Turn | Reply:
        blend = self.blend_of(channel)
        try:
            self.engine.check(blend)
        except BlendError as exc:
            return Reply("error", f"This channel's blend cannot answer: {exc}")
        choice = await self.persona_of(channel)
        books: list[Lorebook] = []
        if channel.lorebook_id is not None:
            stored = await self.library.lorebook(channel.lorebook_id)
            books = [stored.book] if stored else []
        conversation = build_conversation(
            choice.card, [_chat(m) for m in history], self.options.global_system, books
        )
        params = (params or SamplingParams()).over(self.options.sampling)
        return _Turn(channel, ReplyRequest(key, conversation, blend, params))

    async def _finish(self, turn: _Turn, generation: Generation) -> Reply:
        text = generation.text or "…"
        message_id = await self.store.add_message(
            turn.channel.id, "assistant", text,
            model_id=generation.model_id, mode=turn.request.blend.mode,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            latency_ms=round(generation.latency_s * 1000),
        )  # committed before the adapter sends it
        if generation.candidates:
            await add_candidates(self.store, message_id, generation.candidates)
        return Reply("reply", text, generation.model_id, message_id, generation.notices, generation)

    async def regenerate(self, msg: IncomingMessage, reply_id: int,
                         params: SamplingParams | None = None) -> Reply:
        """Draw the latest reply again under the channel's mode; the old one is replaced.

        `msg` says who asked and where (its text is ignored). The request is stored as
        regenerate feedback on the old reply, tied to the model that wrote it.
        """
        channel = await self.channel(msg)
        history = await self.store.history(channel.id, self.options.history_limit)
        if not history or history[-1].id != reply_id or history[-1].role != "assistant":
            return Reply("hint", "Only the latest reply can be regenerated.")
        if history[-1].model_id is None:
            return Reply("hint", "A greeting cannot be regenerated.")
        user_id = await self.store.ensure_user(msg.platform, msg.user_id, msg.user_name)
        await self.replies.add_feedback(reply_id, user_id, "regenerate")
        turn = await self._turn(channel, history[:-1], params,
                                f"{msg.platform}:{msg.channel_id}")
        if isinstance(turn, Reply):
            return turn
        try:
            generation = await self.engine.reply(turn.request)
        except Exception as exc:
            return _failure(exc)
        reply = await self._finish(turn, generation)
        assert reply.message_id is not None
        await self.replies.mark_replaced(reply_id, reply.message_id)
        return reply

    async def feedback(self, msg: IncomingMessage, reply_id: int, kind: FeedbackKind,
                       *, remove: bool = False) -> bool:
        """Store (or withdraw) 👍/👎 from the user in `msg` on a reply."""
        user_id = await self.store.ensure_user(msg.platform, msg.user_id, msg.user_name)
        if remove:
            await self.replies.remove_feedback(reply_id, user_id, kind)
            return True
        return await self.replies.add_feedback(reply_id, user_id, kind)

    async def handle(self, msg: IncomingMessage, params: SamplingParams | None = None) -> Reply:
        """Answer one message (no streaming)."""
        turn = await self._begin(msg, params)
        if isinstance(turn, Reply):
            return turn
        try:
            generation = await self.engine.reply(turn.request)
        except Exception as exc:
            return _failure(exc)
        return await self._finish(turn, generation)

    async def stream(
        self, msg: IncomingMessage, params: SamplingParams | None = None
    ) -> AsyncIterator[str | Reply]:
        """Yield text pieces while the model writes, then the final `Reply`."""
        turn = await self._begin(msg, params)
        if isinstance(turn, Reply):
            yield turn
            return
        generation: Generation | None = None
        try:
            async for item in self.engine.stream(turn.request):
                if isinstance(item, Generation):
                    generation = item
                else:
                    yield item
        except Exception as exc:
            yield _failure(exc)
            return
        if generation is None:  # pragma: no cover - a backend broke the stream contract
            yield _failure(RuntimeError("the model ended without a result"))
            return
        yield await self._finish(turn, generation)


def _chat(message: StoredMessage) -> ChatMessage:
    if message.role == "user":
        return ChatMessage("user", message.text, name=message.author or "User")
    return ChatMessage("assistant", message.text)


def _failure(exc: BaseException) -> Reply:
    if isinstance(exc, BusyError):  # already a complete, polite sentence
        log.warning("busy: %s", exc)
        return Reply("error", str(exc))
    log.error("reply failed", exc_info=exc)
    reason = str(exc) if isinstance(exc, ModelError | BlendError) else "an internal error"
    return Reply("error", f"Sorry, I could not answer: {reason}. Please try again.")
