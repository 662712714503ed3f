"""`openai` backend: a model behind any OpenAI-compatible HTTP server.

vLLM (GPTQ/AWQ, tensor/pipeline parallel), TGI, Ollama and llama.cpp's servers all speak
this API. Chat models are called through `/v1/chat/completions` (the server applies the
model's chat template); base models with `prompt_format = "transcript"` through
`/v1/completions` with `Name: text` transcript text. Replies stream as server-sent events.
Endpoints, retries and limits live in `engines.endpoints`; fitting in `engines.remote_prompt`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import ChatModel, Conversation, Generation, ModelError, SamplingParams
from .endpoints import EndpointPool, HttpClient, HttpOptions, Routing, session_id
from .fitting import reply_budget
from .prompts import PromptFormat, PromptFormatName, TranscriptFormat
from .remote_prompt import (
    CHAT_TEMPLATE_MARGIN,
    ChatMLMeasure,
    RemotePrompt,
    RemoteTokenizer,
    chat_messages,
    fit_remote,
)
from .sse import StreamEnded, StreamError, stream_json
from .stream_reads import batched_chunks

FALLBACK_SAMPLING = SamplingParams(max_tokens=256, temperature=0.8, top_p=0.95)


@dataclass(frozen=True, slots=True)
class OpenAIOptions:
    base_urls: tuple[str, ...]
    model: str  # the name the server knows the model by
    api_key_env: str | None = None
    prompt_format: PromptFormatName = "chat_template"
    n_ctx: int = 2048
    concurrency: int = 4  # per base URL
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_retries: int = 2
    max_retry_wait_s: float = 10.0
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    max_queue: int | None = None
    routing: Routing = "affinity"  # a channel stays on one replica (engines.endpoints)
    read_batch_s: float = 0.1  # a streamed reply is read in batches this far apart


@dataclass(slots=True)
class _Request:
    path: str
    body: dict[str, Any]
    prompt: RemotePrompt
    stops: tuple[str, ...]


class OpenAIModel(ChatModel):
    def __init__(self, model_id: str, options: OpenAIOptions, defaults: SamplingParams) -> None:
        self.id = model_id
        self.options = options
        self.defaults = defaults
        self.pool = EndpointPool(options.base_urls, options.concurrency,
                                 routing=options.routing)
        self.client = HttpClient(self.pool, HttpOptions(
            concurrency=options.concurrency,
            connect_timeout_s=options.connect_timeout_s,
            read_timeout_s=options.read_timeout_s,
            max_retries=options.max_retries,
            max_retry_wait_s=options.max_retry_wait_s,
            api_key_env=options.api_key_env,
        ))
        self.tokenizer = RemoteTokenizer(self.client, options.model)
        self._transcript = options.prompt_format == "transcript"
        self._format: PromptFormat = TranscriptFormat() if self._transcript else ChatMLMeasure()

    @property
    def context_window(self) -> int:
        return self.options.n_ctx

    @property
    def max_parallel(self) -> int:
        return self.pool.capacity

    @property
    def max_queue(self) -> int | None:
        return self.options.max_queue

    async def count_tokens(self, text: str) -> int:
        counted = await self.tokenizer.count(text)
        return counted if counted is not None else self.tokenizer.estimate(text)

    async def _request(self, conversation: Conversation, params: SamplingParams,
                       stream: bool) -> _Request:
        p = params.over(self.defaults).over(FALLBACK_SAMPLING)
        max_tokens = reply_budget(self.options.n_ctx, p.max_tokens or 256)
        margin = 0 if self._transcript else CHAT_TEMPLATE_MARGIN
        prompt = await fit_remote(conversation, self._format, self.tokenizer,
                                  self.options.n_ctx, max_tokens, margin)
        body: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "stream": stream,
        }
        if p.seed is not None:
            body["seed"] = p.seed
        stops: tuple[str, ...] = ()
        if self._transcript:
            path = "/v1/completions"
            body["prompt"] = prompt.fitted.prompt.text
            stops = prompt.fitted.prompt.stop
            body["stop"] = list(stops)
        else:
            path = "/v1/chat/completions"
            body["messages"] = chat_messages(prompt.fitted.conversation)
        body.update(self.options.extra_params)
        return _Request(path, body, prompt, stops)

    def _finish(self, request: _Request, text: str, usage: Mapping[str, Any] | None,
                pieces: int, finish: str, started: float) -> Generation:
        text = _cut_at_stop(text, request.stops)
        usage = usage or {}
        return Generation(
            model_id=self.id,
            text=self._format.clean_reply(text, request.prompt.fitted.conversation),
            prompt_tokens=int(usage.get("prompt_tokens") or request.prompt.prompt_tokens),
            completion_tokens=int(usage.get("completion_tokens") or pieces),
            latency_s=time.perf_counter() - started,
            finish_reason=finish,
            notices=request.prompt.fitted.notices,
        )

    async def generate(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> Generation:
        request = await self._request(conversation, params, stream=False)
        started = time.perf_counter()
        session = session_id(channel) if channel is not None else None
        async with self.client.post(request.path, request.body, session) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError as exc:
                raise ModelError(f"model '{self.id}': the server sent malformed JSON") from exc
        choice = self._choice(data)
        if choice is None:
            raise ModelError(f"model '{self.id}': the server's reply has no choices")
        text = _text_of(choice, self._transcript)
        if text is None:
            raise ModelError(f"model '{self.id}': the server's reply has no text")
        completion = self.tokenizer.estimate(text) if text else 0
        return self._finish(request, text, data.get("usage"), completion,
                            choice.get("finish_reason") or "stop", started)

    async def stream(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> AsyncIterator[str | Generation]:
        request = await self._request(conversation, params, stream=True)
        started = time.perf_counter()
        pieces: list[str] = []
        usage: Mapping[str, Any] | None = None
        finish: str | None = None
        session = session_id(channel) if channel is not None else None
        async with self.client.post(request.path, request.body, session) as response:
            kind = response.content_type or ""
            if "json" in kind:  # a server that does not stream, or an error object
                data = await _json_or_none(response)
                choice = self._choice(data)
                text = _text_of(choice, self._transcript) if choice else None
                if not text or choice is None:
                    raise ModelError(f"model '{self.id}': the server sent no reply text")
                yield text
                yield self._finish(request, text, data.get("usage"), 1,
                                   choice.get("finish_reason") or "stop", started)
                return
            if "event-stream" not in kind:
                raise ModelError(f"model '{self.id}': the server answered with {kind or 'no'} "
                                 "content instead of an event stream")
            try:
                chunks = batched_chunks(response, self.options.read_batch_s,
                                        started=lambda: bool(pieces))  # first words at once
                async for event in stream_json(chunks):
                    choice = self._choice(event)
                    usage = event.get("usage") or usage
                    if choice is None:
                        continue
                    piece = _text_of(choice, self._transcript, delta=True)
                    if piece:
                        pieces.append(piece)
                        yield piece
                    finish = choice.get("finish_reason") or finish
            except StreamEnded as exc:
                if finish is None:
                    raise ModelError(f"model '{self.id}': {exc}") from exc
            except StreamError as exc:
                raise ModelError(f"model '{self.id}': {exc}") from exc
            except ValueError as exc:  # e.g. an event line longer than the reader allows
                raise ModelError(f"model '{self.id}': unreadable event stream ({exc})") from exc
        yield self._finish(request, "".join(pieces), usage, len(pieces), finish or "stop",
                           started)

    def _choice(self, data: Any) -> dict[str, Any] | None:
        """The first choice of a response or event; raises on an error object."""
        if not isinstance(data, dict):
            raise ModelError(f"model '{self.id}': the server sent an unexpected reply")
        if data.get("error"):
            error = data["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise ModelError(f"model '{self.id}': the server reported an error: {message}")
        choices = data.get("choices")
        if not choices:
            return None
        if not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise ModelError(f"model '{self.id}': the server sent malformed choices")
        return choices[0]

    async def close(self) -> None:
        await self.client.close()


def _text_of(choice: Mapping[str, Any], transcript: bool, delta: bool = False) -> str | None:
    """The text of a completion choice, a chat message or a streamed delta."""
    if transcript:
        text = choice.get("text")
    else:
        message = choice.get("delta" if delta else "message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        if delta and text is None:
            return ""
    if text is None:
        return "" if delta else None
    if not isinstance(text, str):
        raise ModelError("the server sent text that is not a string")
    return text


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """Text up to the first stop sequence (servers that ignore some stops still end turns)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


async def _json_or_none(response: Any) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None
