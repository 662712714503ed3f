"""Telegram's webhook as our own aiohttp handler (python-telegram-bot's custom-webhook
pattern): an update is answered 200 only after the core has recorded it, and is processed
after that, in its chat's order, by whichever worker holds the chat. If the update cannot be
recorded (the database is away) Telegram gets a 503 and delivers it again later; a retry of a
recorded update is answered 200 and not processed again."""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from telegram import Update, ext

from ...conversation import Conversations, NotRecorded
from .incoming import PLATFORM

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def chat_of(update: Update) -> str:
    """The key whose updates run in order: the chat (or, without one, the user)."""
    if (chat := update.effective_chat) is not None:
        return str(chat.id)
    query = update.callback_query
    if query is not None and query.message is not None:
        return str(query.message.chat.id)
    user = update.effective_user
    return f"user:{user.id}" if user is not None else "none"


class Webhook:
    """Serves `path` on `listen:port`; feeds recorded updates to `application`."""

    def __init__(self, application: ext.Application,
                 core: Conversations, secret: str, listen: str, port: int,
                 path: str) -> None:
        self.application, self.core, self.secret = application, core, secret
        self.listen, self.port = listen, port
        app = web.Application()
        app.router.add_post("/" + path.lstrip("/"), self._post)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def process(self, payload: str) -> None:
        """One recorded update, through the Application's handlers (awaited: in order)."""
        update = Update.de_json(json.loads(payload), self.application.bot)
        await self.application.process_update(update)

    async def _post(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return web.Response(status=403, text="wrong secret token")
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, self.application.bot)
            update_id = int(update.update_id)
        except Exception:
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self.core.inbox.accept(PLATFORM, update_id, chat_of(update),
                                         json.dumps(data, ensure_ascii=False))
        except NotRecorded:  # not acknowledged: Telegram delivers it again
            return web.Response(status=503, text="cannot record the update now")
        return web.Response(text="ok")
