"""What the config says about access, budgets and moderation, as plain data for the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FailMode = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class Price:
    """A model's price per 1,000 prompt and completion tokens, and its daily spend cap."""

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0
    daily_cap: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_1k
                + completion_tokens * self.completion_per_1k) / 1000


@dataclass(frozen=True, slots=True)
class ModerationEndpoint:
    """An OpenAI-compatible server that judges text: `/moderations` (its `flagged`), or a
    guard model (Llama Guard on vLLM) asked over `/chat/completions` ("unsafe …")."""

    url: str  # the API base, e.g. http://vllm:8000/v1
    kind: Literal["moderations", "guard"] = "moderations"
    model: str | None = None
    api_key_env: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class SafetyOptions:
    user_tokens: int | None = None  # daily tokens per user per community (None: no limit)
    community_tokens: int | None = None  # daily tokens per community
    admins_exempt: bool = True  # admins' turns are not held to the budgets
    prices: dict[str, Price] = field(default_factory=dict)  # by model id
    endpoint: ModerationEndpoint | None = None
    input_fail: FailMode = "open"  # the endpoint is down: let input through
    output_fail: FailMode = "closed"  # ... refuse output
