"""`ctransformers` backend: legacy GGML files (gpt2, gptj, gpt_neox, mpt, falcon, starcoder...).

Optional: `pip install 'blendbot[ggml]'`. ctransformers 0.2.27 reads the GGML formats that
predate GGUF; it cannot load current GGUF files (llama.cpp's format since August 2023), so a
GGUF file is refused with a pointer to `backend = "llamacpp"`. GGML models are base models:
they get the `Name: text` transcript prompt. Blocking calls run on the model's own worker
thread, like the llama.cpp backend.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .base import ChatModel, Conversation, Generation, ModelError, SamplingParams
from .fitting import FittedPrompt, fit_conversation, reply_budget
from .prompts import TranscriptFormat
from .sources import ModelSource
from .worker import Emit, stream_from_worker

if TYPE_CHECKING:
    from ctransformers.llm import LLM

log = logging.getLogger(__name__)
T = TypeVar("T")
GGUF_MAGIC = b"GGUF"
GGML_MAGICS = {b"lmgg": "ggml", b"fmgg": "ggmf", b"tjgg": "ggjt"}  # little-endian uint32s
FALLBACK_SAMPLING = SamplingParams(
    max_tokens=256, temperature=0.8, top_p=0.95, top_k=40, repeat_penalty=1.1
)


@dataclass(frozen=True, slots=True)
class CTransformersOptions:
    model_type: str | None = None  # gpt2, gptj, gpt_neox, mpt, falcon, starcoder, ...
    n_ctx: int = 2048
    n_threads: int | None = None
    max_queue: int | None = None


class _Tokenizer:
    def __init__(self, llm: LLM) -> None:
        self._llm = llm

    def encode(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text, add_bos_token=False))

    def decode(self, tokens: list[int]) -> str:
        return str(self._llm.detokenize(tokens)) if tokens else ""


class CTransformersModel(ChatModel):
    def __init__(
        self,
        model_id: str,
        source: ModelSource,
        options: CTransformersOptions,
        defaults: SamplingParams,
    ) -> None:
        self.id = model_id
        self.source = source
        self.options = options
        self.defaults = defaults
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ggml-{model_id}")
        self._llm: LLM | None = None
        self._format = TranscriptFormat()

    @property
    def context_window(self) -> int:
        return self.options.n_ctx

    @property
    def is_local(self) -> bool:
        return True

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def max_queue(self) -> int | None:
        return self.options.max_queue

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load(self) -> None:
        await self._run(self._load)

    def _load(self) -> LLM:
        if self._llm is not None:
            return self._llm
        path = self.source.resolve()
        model_type = _check_ggml(path, self.options.model_type)
        try:
            from ctransformers.llm import LLM, Config
        except ImportError as exc:
            raise ModelError(
                f"model '{self.id}' needs the ctransformers package. "
                "Fix: pip install 'blendbot[ggml]'"
            ) from exc
        started = time.perf_counter()
        config = Config(context_length=self.options.n_ctx, threads=self.options.n_threads or -1,
                        mmap=True)
        try:
            llm = LLM(str(path), model_type, config=config)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"ctransformers could not load {path} as a '{model_type}' GGML model ({exc}). "
                "Fix: check model_type, or re-download the file."
            ) from exc
        self._llm = llm
        log.info("loaded %s (%s) from %s in %.1fs", self.id, model_type, path,
                 time.perf_counter() - started)
        return llm

    async def count_tokens(self, text: str) -> int:
        return await self._run(lambda: len(_Tokenizer(self._load()).encode(text)))

    def _params(self, params: SamplingParams) -> dict[str, Any]:
        p = params.over(self.defaults).over(FALLBACK_SAMPLING)
        return {
            "max_new_tokens": reply_budget(self.options.n_ctx, p.max_tokens or 256),
            "temperature": p.temperature,
            "top_p": p.top_p,
            "top_k": p.top_k,
            "repetition_penalty": p.repeat_penalty,
            "seed": p.seed if p.seed is not None else -1,
        }

    def _fit(self, llm: LLM, conversation: Conversation, max_tokens: int) -> FittedPrompt:
        return fit_conversation(conversation, self._format, _Tokenizer(llm), self.options.n_ctx,
                                max_tokens)

    def _generate_sync(self, conversation: Conversation, params: SamplingParams,
                       stop: threading.Event | None, emit: Emit | None) -> Generation:
        llm = self._load()
        kwargs = self._params(params)
        fitted = self._fit(llm, conversation, kwargs["max_new_tokens"])
        started = time.perf_counter()
        pieces: list[str] = []
        finish = "stop"
        try:
            for piece in llm(fitted.prompt.text, stream=True, stop=list(fitted.prompt.stop),
                             reset=True, **kwargs):
                pieces.append(piece)
                if emit is not None:
                    emit(piece)
                if stop is not None and stop.is_set():
                    finish = "cancelled"
                    break
        except Exception as exc:
            raise ModelError(f"model '{self.id}' failed while generating: {exc}") from exc
        text = "".join(pieces)
        completion = len(_Tokenizer(llm).encode(text)) if text else 0
        if finish == "stop" and completion >= kwargs["max_new_tokens"]:
            finish = "length"
        return Generation(
            model_id=self.id,
            text=self._format.clean_reply(text, fitted.conversation),
            prompt_tokens=len(fitted.tokens),
            completion_tokens=completion,
            latency_s=time.perf_counter() - started,
            finish_reason=finish,
            notices=fitted.notices,
        )

    async def generate(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> Generation:
        return await self._run(self._generate_sync, conversation, params, None, None)

    async def stream(
        self, conversation: Conversation, params: SamplingParams, *, channel: str | None = None
    ) -> AsyncIterator[str | Generation]:
        def produce(emit: Emit, stop: threading.Event) -> Generation:
            return self._generate_sync(conversation, params, stop, emit)

        async for item in stream_from_worker(self._executor, produce):
            yield item

    async def close(self) -> None:
        def unload() -> None:
            self._llm = None  # ctransformers frees the model when the object goes

        await self._run(unload)
        self._executor.shutdown(wait=False)


def _check_ggml(path: Path, model_type: str | None) -> str:
    """The model type to load `path` as; refuses GGUF, non-GGML files and a missing type."""
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from exc
    if magic == GGUF_MAGIC:
        raise ModelError(
            f"{path} is a GGUF file, which ctransformers 0.2.27 cannot load. "
            "Fix: use backend = \"llamacpp\" for GGUF models."
        )
    if magic not in GGML_MAGICS:
        raise ModelError(f"{path} is not a GGML model file (it starts with {magic!r}).")
    if not model_type:
        raise ModelError(
            f"{path} is a legacy GGML ({GGML_MAGICS[magic]}) file; set model_type "
            "(gpt2, gptj, gpt_neox, mpt, falcon, starcoder, ...) for this model."
        )
    return model_type
