"""What a remote model is sent, fitted to its context window.

A chat model gets OpenAI-style messages (the server applies its own chat template); a base
model gets `Name: text` transcript text. Tokens are counted with the server's own tokenizer
when it offers one (llama-cpp-python's `/extras/tokenize/count`, vLLM's and llama.cpp's
`/tokenize`); otherwise they are estimated at 3 UTF-8 bytes per token, a cautious figure
(English runs near 4). History is fitted in bytes scaled by that ratio, then checked with
the server's count when it could be too long, and fitted again tighter if it is; the reply
budget is always reserved. Chat prompts keep a further margin for the server's template.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from .base import ChatMessage, Conversation
from .controls import DEFAULT
from .endpoints import EndpointError, HttpClient
from .fitting import FittedPrompt, fit_conversation, reply_budget
from .prompts import PromptFormat, RenderedPrompt, speaker_line, with_post_history

log = logging.getLogger(__name__)
ESTIMATE_BYTES_PER_TOKEN = 3.0
MIN_BYTES_PER_TOKEN = 1.0  # no tokenizer spends more than one token per byte (BOS aside)
CHAT_TEMPLATE_MARGIN = 32  # tokens a server's chat template may add beyond ChatML
NOT_THIS_DIALECT = frozenset({400, 404, 405, 422})  # the server has no such tokenizer endpoint
Dialect = Literal["llama-cpp-python", "vllm", "llama.cpp", "none"]


@lru_cache(maxsize=20_000)
def _content(message: ChatMessage) -> str:
    """A turn's text as sent: its speaker named, control strings made inert (once per turn:
    the same history is sent again and again)."""
    return DEFAULT(speaker_line(message))  # servers may tokenize with specials on


def chat_messages(conversation: Conversation) -> list[dict[str, str]]:
    """OpenAI chat messages: system part first, speakers named, same-role turns merged."""
    turns: list[dict[str, str]] = []
    for message in with_post_history(conversation):
        content = _content(message)
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n" + content  # many templates want alternating roles
        else:
            turns.append({"role": message.role, "content": content})
    system = DEFAULT(conversation.system_text())
    return [{"role": "system", "content": system}, *turns] if system else turns


class ChatMLMeasure(PromptFormat):
    """The messages as ChatML text: a stand-in for the server's template when counting."""

    def render(self, conversation: Conversation) -> RenderedPrompt:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
                       for m in chat_messages(conversation))
        return RenderedPrompt(text + "<|im_start|>assistant\n", (), added_special=False)


class ByteTokenizer:
    """UTF-8 bytes as tokens: lets `fit_conversation` fit text by size."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, tokens: list[int]) -> str:
        return bytes(tokens).decode("utf-8", errors="ignore")


class RemoteTokenizer:
    """Counts tokens with the server's tokenizer, finding which endpoint it offers once."""

    def __init__(self, client: HttpClient, model: str) -> None:
        self.client = client
        self.model = model
        self.dialect: Dialect | None = None  # None: not found out yet
        self.bytes_per_token = ESTIMATE_BYTES_PER_TOKEN  # learned from the server's counts

    def estimate(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / self.bytes_per_token)

    async def count(self, text: str) -> int | None:
        """The server's count, or None when it cannot count (or cannot be reached)."""
        if self.dialect == "none":
            return None
        dialects: tuple[Dialect, ...] = (
            (self.dialect,) if self.dialect else ("llama-cpp-python", "vllm", "llama.cpp")
        )
        refused = 0
        for dialect in dialects:
            try:
                n = _count_from(dialect, await self.client.get_json(*_request(dialect, text,
                                                                              self.model)))
            except EndpointError as exc:
                if exc.status not in NOT_THIS_DIALECT:  # no key, auth, overload: ask later
                    log.debug("token count from %s failed: %s", dialect, exc)
                    return None
                refused += 1
                continue
            except Exception as exc:  # unreachable or garbled: no count this time
                log.debug("token count from %s failed: %s", dialect, exc)
                return None
            if n is not None:
                self.dialect = dialect
                self._learn(text, n)
                return n
            refused += 1
        if self.dialect is None and refused == len(dialects):
            log.info("server of %s offers no tokenizer endpoint; estimating tokens", self.model)
            self.dialect = "none"
        return None

    def _learn(self, text: str, tokens: int) -> None:
        size = len(text.encode("utf-8"))
        if tokens >= 64:
            self.bytes_per_token = max(MIN_BYTES_PER_TOKEN, size / tokens)


def _request(dialect: Dialect, text: str, model: str) -> tuple[str, dict[str, Any]]:
    if dialect == "llama-cpp-python":
        return "/extras/tokenize/count", {"input": text, "model": model}
    if dialect == "vllm":
        return "/tokenize", {"model": model, "prompt": text, "add_special_tokens": False}
    return "/tokenize", {"content": text}


def _count_from(dialect: Dialect, data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("count"), int):
        return int(data["count"])
    tokens = data.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None


@dataclass(frozen=True, slots=True)
class RemotePrompt:
    """A fitted prompt and its size in the model's tokens (counted, or estimated)."""

    fitted: FittedPrompt
    prompt_tokens: int
    counted: bool


async def fit_remote(
    conversation: Conversation,
    fmt: PromptFormat,
    tokenizer: RemoteTokenizer,
    n_ctx: int,
    max_tokens: int,
    margin: int = 0,
) -> RemotePrompt:
    """Fit `conversation` so prompt + `margin` + reply budget stay within `n_ctx` tokens."""
    budget = n_ctx - reply_budget(n_ctx, max_tokens) - margin - 1
    ratio = tokenizer.bytes_per_token
    bytes_tok = ByteTokenizer()
    best: RemotePrompt | None = None
    grown = False
    fitted = counted = None
    for _ in range(4):
        size_budget = math.floor(budget * ratio)
        conv = conversation
        if conversation.lore_budget is not None:  # tokens, and we fit in bytes here
            conv = replace(conversation, lore_budget=math.floor(conversation.lore_budget * ratio))
        # n_ctx = size_budget + 2 with a 1-byte reply budget: fit within size_budget bytes
        fitted = fit_conversation(conv, fmt, bytes_tok, size_budget + 2, 1)
        size = len(fitted.tokens)
        if size <= budget * MIN_BYTES_PER_TOKEN:  # fits whatever the tokenizer
            return RemotePrompt(fitted, math.ceil(size / tokenizer.bytes_per_token), False)
        counted = await tokenizer.count(fitted.prompt.text)
        if counted is None:
            return RemotePrompt(fitted, math.ceil(size / ratio), False)
        if counted <= budget:
            best = RemotePrompt(fitted, counted, True)
            if grown or fitted.dropped_turns == 0 or counted >= 0.9 * budget:
                return best
            grown = True  # turns were dropped for room the tokenizer says is there
            ratio = max(ratio, size / counted * 0.98)
        elif best is not None:
            return best
        else:
            ratio = max(MIN_BYTES_PER_TOKEN, ratio * budget / counted * 0.95)
        log.debug("prompt of %d tokens for a budget of %d; fitting again at %.2f bytes/token",
                  counted, budget, ratio)
    if best is not None:
        return best
    assert fitted is not None and counted is not None
    return RemotePrompt(fitted, counted, True)
