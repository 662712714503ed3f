"""Text generation: the `ChatModel` interface, backends, prompt formats and the Blended engine."""

from .base import ChatMessage, ChatModel, Conversation, Generation, ModelError, SamplingParams
from .blended import BlendedEngine
from .gate import BusyError
from .health import BreakerConfig, ModelHealth
from .modes import MODE_NAMES, MODES, ModeInfo
from .policies import BlendError, BlendSettings
from .request import AllModelsDownError, Members, Mode, ReplyRequest, UnsupportedModeError

__all__ = [
    "MODES",
    "MODE_NAMES",
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
    "Members",
    "Mode",
    "ModeInfo",
    "ModelError",
    "ModelHealth",
    "ReplyRequest",
    "SamplingParams",
    "UnsupportedModeError",
]
