"""The `ChatModel` interface and the plain data that flows through the engines."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation. `name` is the speaker's display name for user turns."""

    role: Role
    content: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Sampling settings for one generation; `None` fields fall back to the model's defaults."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    seed: int | None = None

    def over(self, defaults: SamplingParams) -> SamplingParams:
        """These params, with unset fields taken from `defaults`."""
        merged = {}
        for f in fields(self):
            value = getattr(self, f.name)
            merged[f.name] = value if value is not None else getattr(defaults, f.name)
        return SamplingParams(**merged)


@dataclass(frozen=True, slots=True)
class LoreText:
    """A lorebook entry that matched: inserted by `order` if the token budget allows."""

    content: str
    order: int = 0


@dataclass(frozen=True, slots=True)
class Conversation:
    """What a model answers: a system part, the history, and who the bot is.

    `history` is oldest first and ends with the turn being answered. `bot_name` is used by
    transcript prompts and to strip a model echoing its own name. `lore` (most important
    first) is kept within `lore_budget` tokens of the answering model; `examples` are example
    dialogues, the first thing dropped when the context is tight.
    """

    system: str
    history: Sequence[ChatMessage]
    bot_name: str = "Assistant"
    post_history: str = ""
    examples: tuple[str, ...] = ()
    lore: tuple[LoreText, ...] = ()
    lore_budget: int | None = None
    summary: str = ""  # what was said before `history`, summarised
    facts: tuple[str, ...] = ()  # pinned facts, oldest first: the newest kept within budget
    facts_budget: int | None = None

    def system_text(self) -> str:
        """System part, then lore, the summary and the pinned facts, then example dialogues."""
        memory = []
        if self.summary.strip():
            memory.append(f"Earlier in this conversation: {self.summary.strip()}")
        if self.facts:
            memory.append("Facts to remember:\n" + "\n".join(f"- {f}" for f in self.facts))
        parts = [self.system, *(entry.content for entry in self.lore), *memory, *self.examples]
        return "\n\n".join(p for p in parts if p.strip())


@dataclass(frozen=True, slots=True)
class Candidate:
    """One generated reply of a ranked turn, with its place (1 = best) and ranker score."""

    model_id: str
    text: str
    rank: int
    score: float | None  # mean margin over its comparisons; None when never compared
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Generation:
    """A finished generation: the text and what it cost."""

    model_id: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str = "stop"
    notices: tuple[str, ...] = field(default=())
    failed_over_from: tuple[str, ...] = field(default=())  # models that failed this reply first
    candidates: tuple[Candidate, ...] = field(default=())  # ranked modes: every candidate


class ModelError(RuntimeError):
    """A model could not load or generate. The message is safe to show to a user."""


class ChatModel(abc.ABC):
    """One configured generator (a local GGUF file, an HTTP endpoint, ...)."""

    id: str

    @property
    @abc.abstractmethod
    def context_window(self) -> int:
        """Tokens the model can attend to, prompt and reply together."""

    @property
    def is_local(self) -> bool:
        """Whether generation runs on this machine's CPU/GPU (and so takes a local turn)."""
        return False

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (remote models are always 'loaded')."""
        return True

    @abc.abstractmethod
    async def count_tokens(self, text: str) -> int:
        """Tokens `text` takes with this model's own tokenizer."""

    @property
    def max_parallel(self) -> int:
        """Generations this model serves at once (more wait their turn in the engine)."""
        return 1 if self.is_local else 16

    @property
    def max_queue(self) -> int | None:
        """Requests that may wait for this model before new ones are told it is busy."""
        return None

    @abc.abstractmethod
    async def generate(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> Generation:
        """Answer the last turn of `conversation`.

        `channel` names the conversation so a backend can keep per-channel state (a KV cache).
        """

    @abc.abstractmethod
    def stream(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> AsyncIterator[str | Generation]:
        """Yield text pieces as they are produced, then the final `Generation`."""

    async def probe(self) -> None:
        """Raise if the model cannot answer right now (by default: a one-token generation)."""
        await self.generate(
            Conversation("", [ChatMessage("user", "Hi")]),
            SamplingParams(max_tokens=1, temperature=0.0, seed=0),
        )

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release weights, sockets, threads."""
