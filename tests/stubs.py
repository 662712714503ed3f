"""A scriptable `ChatModel` for tests that check plumbing rather than prose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from engines.base import ChatModel, Conversation, Generation, ModelError, SamplingParams


class StubModel(ChatModel):
    """Answers `"<id> reply <n>"` word by word; can fail after `fail_after` pieces."""

    def __init__(
        self,
        model_id: str,
        *,
        local: bool = False,
        fail_after: int | None = None,
        delay: float = 0.0,
        before: Callable[[Conversation], Awaitable[None]] | None = None,
    ) -> None:
        self.id = model_id
        self.local = local
        self.fail_after = fail_after
        self.delay = delay
        self.before = before
        self.calls: list[Conversation] = []

    @property
    def context_window(self) -> int:
        return 4096

    @property
    def is_local(self) -> bool:
        return self.local

    async def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _words(self) -> list[str]:
        return f"{self.id} reply {len(self.calls)}".split()

    async def generate(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> Generation:
        text = ""
        async for item in self.stream(conversation, params, channel=channel):
            if isinstance(item, Generation):
                return item
            text += item
        raise AssertionError("stream ended without a Generation")

    async def stream(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> AsyncIterator[str | Generation]:
        self.calls.append(conversation)
        if self.before is not None:
            await self.before(conversation)
        words = self._words()
        for i, word in enumerate(words):
            if self.fail_after is not None and i >= self.fail_after:
                raise ModelError(f"model '{self.id}' failed while generating: boom")
            if self.delay:
                await asyncio.sleep(self.delay)
            yield word if i == 0 else " " + word
        yield Generation(self.id, " ".join(words), 10, len(words), 0.01)


class ScriptedModel(StubModel):
    """Answers with a fixed text, word by word, `delay` seconds apart."""

    def __init__(self, model_id: str, text: str, **kwargs: object) -> None:
        super().__init__(model_id, **kwargs)  # type: ignore[arg-type]
        self.text = text

    def _words(self) -> list[str]:
        return self.text.split(" ")
