"""Telegram adapter (python-telegram-bot): translates updates for the conversation core."""

from .bot import TelegramOptions, build_application, run_telegram
from .outbox import Pacing

__all__ = ["Pacing", "TelegramOptions", "build_application", "run_telegram"]
