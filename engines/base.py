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
class Conversation:
    """What a model answers: a system part, the history, and who the bot is.

    `history` is oldest first and ends with the turn being answered. `bot_name` is used by
    transcript prompts and to strip a model echoing its own name.
    """

    system: str
    history: Sequence[ChatMessage]
    bot_name: str = "Assistant"
    post_history: str = ""


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

    @abc.abstractmethod
    async def generate(self, conversation: Conversation, params: SamplingParams) -> Generation:
        """Answer the last turn of `conversation`."""

    @abc.abstractmethod
    def stream(
        self, conversation: Conversation, params: SamplingParams
    ) -> AsyncIterator[str | Generation]:
        """Yield text pieces as they are produced, then the final `Generation`."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release weights, sockets, threads."""
