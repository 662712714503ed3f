"""The Telegram bot: a python-telegram-bot `Application` wired to the core, run by long
polling, or as a webhook worker when `telegram_webhook_url` is set (several may share one
bot behind a balancer: see webhook.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlparse

from telegram import BotCommand, Update, ext
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import filters
from telegram.request import HTTPXRequest

from ...config import ConfigError, Settings, telegram_webhook_secret
from ...conversation import MENU, Conversations
from ...logs import quiet_secret_loggers
from .handlers import Handlers
from .incoming import PLATFORM
from .outbox import TelegramOptions, post_line, send_report
from .webhook import Webhook

log = logging.getLogger(__name__)
UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]


def build_application(core: Conversations, settings: Settings,
                      options: TelegramOptions | None = None) -> ext.Application:
    """A PTB `Application` for `TELEGRAM_TOKEN` against `telegram_api_url`, handlers added."""
    options = options or TelegramOptions()
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        raise ConfigError("TELEGRAM_TOKEN is not set")
    request = HTTPXRequest(connection_pool_size=32, pool_timeout=10.0,
                           httpx_kwargs={"event_hooks": core.metrics.httpx_hooks("telegram")})
    application = (ext.ApplicationBuilder().token(token)
                   .base_url(settings.telegram_api_url).concurrent_updates(True)
                   .request(request).build())
    handlers, bot = Handlers(core, options), application.bot
    core.register_report_sink("telegram", lambda *report: send_report(bot, *report))
    core.register_modlog_sink("telegram", lambda *line: post_line(bot, *line))
    scope = filters.ChatType.PRIVATE | filters.ChatType.GROUPS
    application.add_handler(ext.CommandHandler(
        [name for name, _ in MENU], handlers.on_command, scope & filters.UpdateType.MESSAGE))
    application.add_handler(ext.MessageHandler(
        ~filters.COMMAND & scope & filters.UpdateType.MESSAGE, handlers.on_message))
    application.add_handler(ext.CallbackQueryHandler(handlers.on_button, pattern=r"^fb:"))
    application.add_handler(ext.ChatMemberHandler(handlers.on_my_membership,
                                                  ext.ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_error_handler(handlers.on_error)
    return application


async def run_telegram(core: Conversations, settings: Settings,
                       options: TelegramOptions | None = None) -> None:
    """Serve Telegram until cancelled: long polling, or PTB's webhook server at the path of
    `telegram_webhook_url`. A bad token or secret, or no Bot API at start: `ConfigError`."""
    options = options or TelegramOptions()
    secret = telegram_webhook_secret() if settings.telegram_webhook_url else None
    quiet_secret_loggers()
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
            async with contextlib.AsyncExitStack() as stack:
                stack.push_async_callback(_stop, application)  # last, after the rest
                if settings.telegram_webhook_url and secret:
                    await _start_webhook(stack, application, core, settings, secret)
                else:
                    await updater.start_polling(timeout=options.poll_timeout,
                                                allowed_updates=UPDATES)
                    stack.push_async_callback(updater.stop)
                log.info("telegram: @%s is running (%s)", application.bot.username,
                         "webhook" if secret else "long polling")
                core.platform_connected("telegram")
                try:
                    await asyncio.Event().wait()  # until cancelled
                finally:
                    core.platform_connected("telegram", False)
    except InvalidToken:
        raise ConfigError("TELEGRAM_TOKEN was rejected by the Telegram Bot API "
                          "(check the token BotFather gave you)") from None
    except NetworkError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: "
                          f"{reason}") from None


async def _stop(application: ext.Application) -> None:
    if application.running:
        await application.stop()


async def _start_webhook(stack: contextlib.AsyncExitStack,
                         application: ext.Application,
                         core: Conversations, settings: Settings, secret: str) -> None:
    """Our own webhook server (updates recorded before they are acknowledged), this process
    working through recorded updates, and Telegram told where to send them."""
    assert settings.telegram_webhook_url is not None
    webhook = Webhook(application, core, secret, settings.telegram_webhook_listen,
                      settings.telegram_webhook_port,
                      urlparse(settings.telegram_webhook_url).path)
    await stack.enter_async_context(core.inbox.serving(PLATFORM, webhook.process))
    try:
        await webhook.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen for the Telegram webhook on "
                          f"{settings.telegram_webhook_listen}:{settings.telegram_webhook_port}"
                          f": {exc.strerror or exc}") from None
    stack.push_async_callback(webhook.stop)
    await application.bot.set_webhook(settings.telegram_webhook_url, secret_token=secret,
                                      allowed_updates=UPDATES)
