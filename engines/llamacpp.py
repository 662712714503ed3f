"""`llamacpp` backend: GGUF models on llama-cpp-python, loaded lazily and memory-mapped.

Every blocking call (load, tokenize, generate) runs on the model's own single worker thread,
so the event loop stays responsive and one loaded model runs one generation at a time. Each
channel's evaluated prefix is kept in RAM (`engines.kvcache`), so channels that take turns
do not re-read their whole history.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .base import ChatModel, Conversation, Generation, ModelError, SamplingParams
from .fitting import FittedPrompt, fit_conversation, reply_budget
from .kvcache import ChannelSwitch
from .llama_amx import avoid_amx_buffers
from .prompts import ChatTemplateFormat, PromptFormat, PromptFormatName, TranscriptFormat
from .sources import ModelSource
from .worker import Emit, stream_from_worker

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)
T = TypeVar("T")
GGUF_MAGIC = b"GGUF"
FALLBACK_SAMPLING = SamplingParams(
    max_tokens=256, temperature=0.8, top_p=0.95, top_k=40, repeat_penalty=1.1
)


@dataclass(frozen=True, slots=True)
class LlamaCppOptions:
    n_ctx: int = 2048
    n_threads: int | None = None
    n_gpu_layers: int = 0
    prompt_format: PromptFormatName = "chat_template"
    kv_cache_bytes: int = 256 * 2**20  # per-channel KV states kept in RAM; 0: off
    max_queue: int | None = None


class _LlamaTokenizer:
    def __init__(self, llm: Llama) -> None:
        self._llm = llm

    def encode(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def decode(self, tokens: list[int]) -> str:
        return self._llm.detokenize(tokens).decode("utf-8", errors="ignore")


class LlamaCppModel(ChatModel):
    def __init__(
        self,
        model_id: str,
        source: ModelSource,
        options: LlamaCppOptions,
        defaults: SamplingParams,
    ) -> None:
        self.id = model_id
        self.source = source
        self.options = options
        self.defaults = defaults
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{model_id}")
        self._llm: Llama | None = None
        self._format: PromptFormat | None = None
        self._tokenizer: _LlamaTokenizer | None = None
        self.channels = ChannelSwitch(options.kv_cache_bytes)  # touched on the worker only

    @property
    def context_window(self) -> int:
        return self.options.n_ctx

    @property
    def max_queue(self) -> int | None:
        return self.options.max_queue

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def is_local(self) -> bool:
        return True

    @property
    def llama(self) -> Llama:
        """The loaded llama-cpp-python object (loads it; blocking)."""
        self._load()
        assert self._llm is not None
        return self._llm

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load(self) -> None:
        await self._run(self._load)

    def _load(self) -> None:
        if self._llm is not None:
            return
        path = self.source.resolve()
        _check_gguf(path)
        from llama_cpp import Llama

        _quiet_llama_logs()
        avoid_amx_buffers()
        started = time.perf_counter()
        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=self.options.n_ctx,
                n_threads=self.options.n_threads,
                n_gpu_layers=self.options.n_gpu_layers,
                use_mmap=True,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"llama.cpp could not load {path} ({exc}); the file is corrupt, truncated or "
                "from a newer llama.cpp. Fix: re-download it or upgrade llama-cpp-python."
            ) from exc
        self._format = self._make_format(llm, path)
        self._tokenizer = _LlamaTokenizer(llm)
        self._llm = llm
        log.info("loaded %s from %s in %.1fs", self.id, path, time.perf_counter() - started)

    def _make_format(self, llm: Llama, path: Path) -> PromptFormat:
        controls = _control_tokens(llm)
        if self.options.prompt_format == "transcript":
            return TranscriptFormat(controls)
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(
                f"{path} has no chat template; it is probably a base model. "
                f"Fix: set prompt_format = \"transcript\" for model '{self.id}'."
            )
        return ChatTemplateFormat(template, _token_text(llm, llm.token_bos()),
                                  _token_text(llm, llm.token_eos()), controls)

    async def count_tokens(self, text: str) -> int:
        def count() -> int:
            self._load()
            assert self._tokenizer is not None
            return len(self._tokenizer.encode(text))

        return await self._run(count)

    def _params(self, params: SamplingParams) -> dict[str, Any]:
        p = params.over(self.defaults).over(FALLBACK_SAMPLING)
        return {
            "max_tokens": reply_budget(self.options.n_ctx, p.max_tokens or 256),
            "temperature": p.temperature,
            "top_p": p.top_p,
            "top_k": p.top_k,
            "repeat_penalty": p.repeat_penalty,
            "seed": p.seed,
        }

    def _fit(self, conversation: Conversation, max_tokens: int) -> FittedPrompt:
        self._load()
        assert self._format is not None and self._tokenizer is not None
        fitted = fit_conversation(
            conversation, self._format, self._tokenizer, self.options.n_ctx, max_tokens
        )
        if not fitted.prompt.added_special:  # let llama.cpp add BOS if the vocab wants one
            fitted = replace(
                fitted,
                tokens=self.llama.tokenize(
                    fitted.prompt.text.encode("utf-8"), add_bos=True, special=True
                ),
            )
        return fitted

    def _complete(
        self, conversation: Conversation, params: SamplingParams, channel: str | None
    ) -> Generation:
        kwargs = self._params(params)
        fitted = self._fit(conversation, kwargs["max_tokens"])
        self.channels.enter(self.llama, channel, fitted.tokens)
        started = time.perf_counter()
        try:
            out = self.llama.create_completion(
                prompt=fitted.tokens, stop=list(fitted.prompt.stop), **kwargs
            )
            assert isinstance(out, dict)  # not streamed: one response
        except Exception as exc:
            raise ModelError(f"model '{self.id}' failed while generating: {exc}") from exc
        latency = time.perf_counter() - started
        choice = out["choices"][0]
        assert self._format is not None
        return Generation(
            model_id=self.id,
            text=self._format.clean_reply(choice["text"], fitted.conversation),
            prompt_tokens=out["usage"]["prompt_tokens"],
            completion_tokens=out["usage"]["completion_tokens"],
            latency_s=latency,
            finish_reason=choice.get("finish_reason") or "stop",
            notices=fitted.notices,
        )

    async def generate(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> Generation:
        return await self._run(self._complete, conversation, params, channel)

    async def stream(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> AsyncIterator[str | Generation]:
        def produce(emit: Emit, stop: threading.Event) -> Generation:
            return self._stream_sync(conversation, params, channel, stop, emit)

        async for item in stream_from_worker(self._executor, produce):
            yield item

    def _stream_sync(
        self,
        conversation: Conversation,
        params: SamplingParams,
        channel: str | None,
        stop: threading.Event,
        emit: Emit,
    ) -> Generation:
        kwargs = self._params(params)
        fitted = self._fit(conversation, kwargs["max_tokens"])
        self.channels.enter(self.llama, channel, fitted.tokens)
        assert self._format is not None
        started = time.perf_counter()
        pieces: list[str] = []
        finish = "stop"
        try:
            chunks = self.llama.create_completion(
                prompt=fitted.tokens, stop=list(fitted.prompt.stop), stream=True, **kwargs
            )
            assert not isinstance(chunks, dict)  # streamed: an iterator of responses
            for chunk in chunks:
                choice = chunk["choices"][0]
                if choice["text"]:
                    pieces.append(choice["text"])
                    emit(choice["text"])
                finish = choice.get("finish_reason") or finish
                if stop.is_set():
                    finish = "cancelled"
                    break
        except Exception as exc:
            raise ModelError(f"model '{self.id}' failed while generating: {exc}") from exc
        return Generation(
            model_id=self.id,
            text=self._format.clean_reply("".join(pieces), fitted.conversation),
            prompt_tokens=len(fitted.tokens),
            completion_tokens=len(pieces),
            latency_s=time.perf_counter() - started,
            finish_reason=finish,
            notices=fitted.notices,
        )

    async def reset_cache(self) -> None:
        """Forget every channel's saved KV state and the live context (the next call is cold)."""
        def reset() -> None:
            self.channels.forget()
            if self._llm is not None:
                self._llm.reset()
                self._llm._ctx.kv_cache_clear()

        await self._run(reset)

    async def close(self) -> None:
        def unload() -> None:
            self.channels.forget()
            if self._llm is not None:
                self._llm.close()
                self._llm = None

        await self._run(unload)
        self._executor.shutdown(wait=False)


def _llama_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    line = text.decode("utf-8", errors="replace").rstrip()
    if line:
        log.debug("llama.cpp: %s", line)


_LLAMA_LOG_SINK: list[Any] = []  # the ctypes callback must outlive every call into llama.cpp


def _quiet_llama_logs() -> None:
    """Send llama.cpp's own log lines to Python logging (DEBUG) instead of stderr."""
    import llama_cpp

    if not _LLAMA_LOG_SINK:
        _LLAMA_LOG_SINK.append(llama_cpp.llama_log_callback(_llama_log))
        llama_cpp.llama_log_set(_LLAMA_LOG_SINK[0], ctypes.c_void_p(0))


def _control_tokens(llm: Llama) -> list[str]:
    """The texts of the vocabulary's control tokens (what special=True would match)."""
    import llama_cpp

    try:
        vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        flag = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
        return [llm._model.token_get_text(i) for i in range(llm.n_vocab())
                if llama_cpp.llama_vocab_get_attr(vocab, i) & flag]
    except (AttributeError, TypeError):  # an older binding: the generic list still applies
        return []


def _token_text(llm: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llm._model.token_get_text(token)  # the same text llama-cpp-python's own template uses


def _check_gguf(path: Path) -> None:
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{path} is not a GGUF file (it starts with {magic!r}). Fix: use a GGUF model with "
            "backend = \"llamacpp\" (legacy GGML files need backend = \"ctransformers\")."
        )
