"""`ChannelMemory`: what a channel remembers beyond its context window.

The window is the newest turns that fit the smallest member's context (counted with that
member's tokenizer, after the system part and the memory itself); it keeps its first turn
while the turns fit, so a backend's cached prompt prefix stays valid. Turns older than the
window are summarised by a blend member off the reply's critical path (a background task
after the turn), rolling: each summary takes the one before and the turns dropped since,
and is stored with the range of messages it covers. Pinned facts (of the channel, or of a
user who talks in it) go into every prompt; the engine keeps the newest within their token
budget with the answering model's tokenizer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from engines import (
    BlendedEngine,
    BlendSettings,
    ChatMessage,
    ChatModel,
    Conversation,
    ReplyRequest,
    SamplingParams,
)
from engines.fitting import reply_budget

from ..storage import StoredMessage
from ..storage.memory import Fact, Memories, Summary
from .chat_history import prompt_line

log = logging.getLogger(__name__)
SUMMARISE_AFTER = 4  # dropped turns not yet summarised before a new summary is written
TURN_OVERHEAD = 8  # tokens a chat template adds around each turn (role markers, newlines)
SUMMARY_TOKENS = 160
REFILL = 0.7  # a window that overflows restarts this full: it then keeps its start (and the
# model's cached prefix) for several turns instead of moving by one turn every turn
DRAW_ONE = ("single", "uniform", "weighted")
SUMMARY_SYSTEM = (
    "You keep the memory of a group conversation. Write a short summary (at most five "
    "sentences) of the conversation you are given: who said what, names, facts, plans and "
    "open questions. Write only the summary, in the third person.")


@dataclass(frozen=True, slots=True)
class Recall:
    """What a turn's prompt gets from memory."""

    window: int  # index into the history where the window starts (0: all of it fits)
    summary: Summary | None
    facts: tuple[Fact, ...]


class ChannelMemory:
    def __init__(self, memories: Memories, engine: BlendedEngine, facts_budget: int = 200
                 ) -> None:
        self.memories = memories
        self.engine = engine
        self.facts_budget = facts_budget
        self._counts: OrderedDict[tuple[str, int, bool], int] = OrderedDict()
        self._systems: dict[tuple[str, str], int] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._starts: dict[int, int] = {}  # channel -> the message its window starts at

    # ---- the window ---------------------------------------------------------------------

    def members(self, blend: BlendSettings) -> list[ChatModel]:
        models = self.engine.models
        if blend.mode == "single":
            return [models[blend.model_id or self.engine.model_ids[0]]]
        weights = blend.weights or {}
        chosen = [m for i, m in models.items() if not weights or weights.get(i, 0) > 0]
        return chosen or list(models.values())

    def smallest(self, blend: BlendSettings) -> ChatModel:
        return min(self.members(blend), key=lambda m: m.context_window)

    async def _count(self, model: ChatModel, message: StoredMessage, text: str | None = None
                     ) -> int:
        """Tokens of `message` in a prompt (or of `text`, its line in a summary's request)
        with the model's tokenizer, counted once per stored message, model and form."""
        key = (model.id, message.id, text is None)
        if (hit := self._counts.get(key)) is not None:
            return hit
        count = await model.count_tokens(prompt_line(message) if text is None else text
                                         ) + TURN_OVERHEAD
        self._counts[key] = count
        if len(self._counts) > 50_000:
            self._counts.popitem(last=False)  # the oldest counted
        return count

    async def _count_system(self, model: ChatModel, system: str) -> int:
        """Tokens of the system part, counted once while it stays the same."""
        key = (model.id, system)
        if (hit := self._systems.get(key)) is not None:
            return hit
        if len(self._systems) > 1_000:
            self._systems.clear()
        self._systems[key] = count = await model.count_tokens(system)
        return count

    async def recall(self, channel_id: int, blend: BlendSettings,
                     history: Sequence[StoredMessage], conversation: Conversation,
                     max_tokens: int) -> Recall:
        """The window of `history` for the smallest member, the summary before it and the
        pinned facts of the channel and of the people in the window."""
        model = self.smallest(blend)
        n_ctx = model.context_window
        speakers = {m.user_id for m in history[-50:] if m.role == "user"}
        facts = await self.memories.facts(channel_id, [u for u in speakers if u is not None])
        summary = await self.memories.summary(channel_id) if history else None
        fixed = Conversation(conversation.system, (), summary=summary.text if summary else "",
                             facts=tuple(f.text for f in facts), lore=conversation.lore)
        room = n_ctx - reply_budget(n_ctx, max_tokens) - len(conversation.post_history) - 16
        system = fixed.system_text()
        if len(system) + sum(len(prompt_line(m)) + TURN_OVERHEAD for m in history) <= room:
            return Recall(0, summary, tuple(facts))  # a token is a character or more: it fits
        budget = room - min(await self._count_system(model, system), n_ctx // 2)
        earlier = self._starts.get(channel_id)
        at = next((i for i, m in enumerate(history) if m.id == earlier), None)
        if at is not None and await self._within(model, history[at:], budget):
            return Recall(at, summary, tuple(facts))  # the same start: the prefix stays cached
        used, start = 0, len(history)  # else start anew, with room to grow into
        while start > 0:
            cost = await self._count(model, history[start - 1])
            if used + cost > budget * REFILL:
                break
            used += cost
            start -= 1
        self._starts[channel_id] = history[start].id
        return Recall(start, summary, tuple(facts))

    async def _within(self, model: ChatModel, turns: Sequence[StoredMessage], budget: float
                      ) -> bool:
        """Whether `turns` fit `budget` (counting stops once they do not)."""
        used, counts = 0, self._counts
        for message in turns:
            known = counts.get((model.id, message.id, True))
            used += known if known is not None else await self._count(model, message)
            if used > budget:
                return False
        return True

    # ---- rolling summaries --------------------------------------------------------------

    def due(self, recall: Recall, history: Sequence[StoredMessage]) -> bool:
        dropped = history[:recall.window]
        after = recall.summary.last_message_id if recall.summary else 0
        return sum(m.id > after for m in dropped) >= SUMMARISE_AFTER

    def summarise_later(self, channel_id: int, key: str, blend: BlendSettings,
                        history: Sequence[StoredMessage], recall: Recall) -> None:
        """Start writing the next summary in the background (one per channel at a time)."""
        running = self._tasks.get(channel_id)
        if running is not None and not running.done():
            return
        task = asyncio.get_running_loop().create_task(
            self._summarise(channel_id, key, blend, list(history[:recall.window]),
                            recall.summary))
        self._tasks[channel_id] = task
        task.add_done_callback(lambda t: self._tasks.pop(channel_id, None)
                               if self._tasks.get(channel_id) is t else None)

    async def _summarise(self, channel_id: int, key: str, blend: BlendSettings,
                         dropped: list[StoredMessage], before: Summary | None) -> None:
        try:
            summary = await self.write_summary(key, blend, dropped, before)
            if summary is None:
                log.warning("memory: the summary for %s came back empty; answering without "
                            "a new one", key)
                return
            await self.memories.add_summary(channel_id, summary)
        except Exception as exc:
            log.warning("memory: could not summarise %s: %s", key, exc,
                        exc_info=log.isEnabledFor(logging.DEBUG))

    async def write_summary(self, key: str, blend: BlendSettings,
                            dropped: list[StoredMessage], before: Summary | None
                            ) -> Summary | None:
        """A blend member's summary of `before` and the turns of `dropped` after it (as many
        as fit half the smallest member's context); None if it wrote nothing."""
        after = before.last_message_id if before else 0
        fresh = [m for m in dropped if m.id > after]
        if not fresh:
            return None
        model = self.smallest(blend)
        room = model.context_window // 2 - SUMMARY_TOKENS
        lines: list[str] = []
        taken: list[StoredMessage] = []
        used = 0
        if before is not None:
            lines.append(f"Summary so far: {before.text}\n")
            used += await model.count_tokens(lines[0])
        for message in fresh:
            line = f"{message.author or 'User'}: {message.text}" if message.role == "user" \
                else f"Bot: {message.text}"
            cost = await self._count(model, message, line)
            if taken and used + cost > room:
                break
            lines.append(line)
            taken.append(message)
            used += cost
        mode = blend.mode if blend.mode in DRAW_ONE else "uniform"
        request = ReplyRequest(
            f"{key}#memory", Conversation(SUMMARY_SYSTEM, [ChatMessage(
                "user", "Summarise this conversation:\n\n" + "\n".join(lines), name=None)]),
            BlendSettings(mode, blend.model_id, blend.weights),
            SamplingParams(max_tokens=SUMMARY_TOKENS, temperature=0.3))
        generation = await self.engine.reply(request)
        text = " ".join(generation.text.split())
        if not text:
            return None
        first = before.first_message_id if before else taken[0].id
        turns = (before.turns if before else 0) + len(taken)
        return Summary(text, first, taken[-1].id, turns, generation.model_id)

    async def idle(self) -> None:
        """Wait for the summaries being written now."""
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await self.idle()

