"""Text generation: the `ChatModel` interface, backends, prompt formats and the Blended engine."""

from .base import ChatMessage, ChatModel, Conversation, Generation, ModelError, SamplingParams
from .blended import AllModelsDownError, BlendedEngine, ReplyRequest, UnsupportedModeError
from .gate import BusyError
from .health import BreakerConfig, ModelHealth
from .policies import ALL_MODES, BlendError, BlendSettings

__all__ = [
    "ALL_MODES",
    "AllModelsDownError",
    "BlendError",
    "BlendSettings",
    "BlendedEngine",
    "BreakerConfig",
    "BusyError",
    "ChatMessage",
    "ChatModel",
    "Conversation",
    "Generation",
    "ModelError",
    "ModelHealth",
    "ReplyRequest",
    "SamplingParams",
    "UnsupportedModeError",
]
