"""Telegram adapter (python-telegram-bot): translates updates to `ChatService`/`Commands`."""

from .bot import TelegramOptions, build_application, run_telegram
from .handlers import Pacing

__all__ = ["Pacing", "TelegramOptions", "build_application", "run_telegram"]
