"""Text generation: the `ChatModel` interface, backends, prompt formats and the Blended engine."""

from .base import ChatMessage, ChatModel, Conversation, Generation, ModelError, SamplingParams
from .blended import BlendedEngine, ReplyRequest, UnsupportedModeError
from .policies import ALL_MODES, BlendError, BlendSettings

__all__ = [
    "ALL_MODES",
    "BlendError",
    "BlendSettings",
    "BlendedEngine",
    "ChatMessage",
    "ChatModel",
    "Conversation",
    "Generation",
    "ModelError",
    "ReplyRequest",
    "SamplingParams",
    "UnsupportedModeError",
]
