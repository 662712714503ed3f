"""Telegram adapter (python-telegram-bot): translates updates for the conversation core."""

from .bot import build_application, run_telegram
from .outbox import TelegramOptions

__all__ = ["TelegramOptions", "build_application", "run_telegram"]
