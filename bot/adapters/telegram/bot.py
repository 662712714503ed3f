"""The Telegram bot: a python-telegram-bot `Application` wired to the core, run by long
polling, or as a webhook server when `telegram_webhook_url` is set."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlparse

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from ...config import ConfigError, Settings
from ...conversation import MENU, Conversations
from .admin import AdminCheck
from .handlers import Handlers
from .outbox import Pacing, send_report

log = logging.getLogger(__name__)
SECRET_ENV = "BLENDBOT_TELEGRAM_WEBHOOK_SECRET"
SECRET_FORM = re.compile(r"[A-Za-z0-9_-]{1,256}")
UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


@dataclass(frozen=True, slots=True)
class TelegramOptions:
    """Tuning that is not user configuration (tests shorten it)."""

    pacing: Pacing = field(default_factory=Pacing)
    admin_ttl: float = 60.0  # seconds a getChatMember answer is trusted
    poll_timeout: int = 10  # long-polling wait per getUpdates, seconds


def build_application(core: Conversations, settings: Settings,
                      options: TelegramOptions | None = None) -> Application:
    """A PTB `Application` for `TELEGRAM_TOKEN` against `telegram_api_url`, handlers added."""
    options = options or TelegramOptions()
    token = settings.telegram_token
    if token is None or not token.get_secret_value().strip():
        raise ConfigError("TELEGRAM_TOKEN is not set")
    application = (
        ApplicationBuilder()
        .token(token.get_secret_value().strip())
        .base_url(settings.telegram_api_url)
        .concurrent_updates(True)
        .connection_pool_size(32)
        .pool_timeout(10.0)
        .build()
    )
    handlers = Handlers(core, AdminCheck(options.admin_ttl), options.pacing)
    bot = application.bot

    async def post_report(channel_id: str, text: str, png: bytes | None) -> None:
        await send_report(bot, channel_id, text, png)

    core.register_report_sink("telegram", post_report)
    scope = filters.ChatType.PRIVATE | filters.ChatType.GROUPS
    application.add_handler(CommandHandler(
        [name for name, _ in MENU], handlers.on_command, scope & filters.UpdateType.MESSAGE))
    application.add_handler(MessageHandler(
        ~filters.COMMAND & scope & filters.UpdateType.MESSAGE,
        handlers.on_message))
    application.add_handler(CallbackQueryHandler(handlers.on_button, pattern=r"^fb:"))
    application.add_error_handler(handlers.on_error)
    return application


def webhook_secret() -> str:
    """The webhook's secret token, from the environment only."""
    secret = os.environ.get(SECRET_ENV, "")
    if not SECRET_FORM.fullmatch(secret):
        raise ConfigError(f"webhook mode needs {SECRET_ENV}: 1-256 characters of A-Z, a-z, "
                          "0-9, _ and -")
    return secret


def _keep_secrets_out_of_logs() -> None:
    """Raise the loggers whose lower levels print the token (in URLs) or request data."""
    for name, level in (("httpx", logging.WARNING), ("httpcore", logging.WARNING),
                        ("telegram.Bot", logging.INFO), ("telegram.ext.ExtBot", logging.INFO)):
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), level))


async def run_telegram(core: Conversations, settings: Settings,
                       options: TelegramOptions | None = None) -> None:
    """Serve Telegram until cancelled.

    Long polling by default; PTB's webhook server when `telegram_webhook_url` is set (it
    listens on `telegram_webhook_listen`:`telegram_webhook_port` at the URL's path and
    checks `BLENDBOT_TELEGRAM_WEBHOOK_SECRET`). Raises `ConfigError` for a missing or
    rejected token, a missing secret, or a Bot API that cannot be reached at start.
    """
    options = options or TelegramOptions()
    secret = webhook_secret() if settings.telegram_webhook_url else None
    _keep_secrets_out_of_logs()
    application = build_application(core, settings, options)
    try:
        async with application:  # getMe: the token is checked here
            try:
                await application.bot.set_my_commands(
                    [BotCommand(name, about[:256]) for name, about in MENU])
            except TelegramError as exc:  # the menu is a convenience: run without it
                log.warning("telegram: setMyCommands failed: %s", exc)
            await application.start()
            updater = application.updater
            assert updater is not None
            if settings.telegram_webhook_url and secret:
                await updater.start_webhook(
                    listen=settings.telegram_webhook_listen,
                    port=settings.telegram_webhook_port,
                    url_path=urlparse(settings.telegram_webhook_url).path.lstrip("/"),
                    webhook_url=settings.telegram_webhook_url,
                    secret_token=secret, allowed_updates=UPDATES)
            else:
                await updater.start_polling(timeout=options.poll_timeout,
                                            allowed_updates=UPDATES)
            log.info("telegram: @%s is running (%s)", application.bot.username,
                        "webhook" if secret else "long polling")
            try:
                await asyncio.Event().wait()  # until cancelled
            finally:
                if updater.running:
                    await updater.stop()
                if application.running:
                    await application.stop()
    except InvalidToken:
        raise ConfigError("TELEGRAM_TOKEN was rejected by the Telegram Bot API "
                          "(check the token BotFather gave you)") from None
    except NetworkError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: "
                          f"{reason}") from None
