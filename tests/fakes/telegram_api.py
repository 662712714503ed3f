"""A loopback fake of the Telegram Bot API for running the real python-telegram-bot client.

It serves `POST /bot<TOKEN>/<method>` on 127.0.0.1 (form-encoded or multipart, non-string
values JSON-encoded, as PTB sends them), answers `{"ok": true, "result": ...}`, keeps the
bot's messages as Telegram would (sent, edited, deleted) and records every call. Tests queue
updates (`say`, `press`), then assert on `calls`/`texts`. `flood(method, retry_after)` makes
the next call of a method answer 429 with `retry_after`. Formatting is read as the Bot API
reads it (`tests.fakes.telegram_format`); `refuse_entities()` makes the next message with
entities answer 400 "can't parse entities".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .telegram_format import CannotParse, check_entities, parse_markdown_v2

JSON = dict[str, Any]
BOT_ID = 4242
BOT_USERNAME = "blendtestbot"
ADMIN_RIGHTS = dict.fromkeys(
    ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
     "can_manage_video_chats", "can_restrict_members", "can_promote_members",
     "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
     "can_delete_stories"), False)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    first_name: str

    def json(self) -> JSON:
        return {"id": self.id, "is_bot": False, "first_name": self.first_name,
                "username": self.first_name.lower()}


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    type: str = "supergroup"  # private, group, supergroup
    title: str = "Test group"
    is_forum: bool = False

    def json(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.title
        else:
            data["title"] = self.title
            if self.is_forum:
                data["is_forum"] = True
        return data


def private(user: User) -> Chat:
    return Chat(user.id, "private", user.first_name)


@dataclass(slots=True)
class Call:
    method: str
    params: JSON
    at: float  # time.monotonic() when it arrived
    status: int = 200


@dataclass(slots=True)
class _Bot:
    messages: dict[tuple[int, int], JSON] = field(default_factory=dict)
    deleted: set[tuple[int, int]] = field(default_factory=set)


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


class FakeTelegram:
    """The Bot API for one bot (`token`), served on a free loopback port after `start()`."""

    def __init__(self, token: str = "123:abc") -> None:
        self.token = token
        self.bot = {"id": BOT_ID, "is_bot": True, "first_name": "Blendbot",
                    "username": BOT_USERNAME, "can_join_groups": True,
                    "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.calls: list[Call] = []
        self.members: dict[tuple[int, int], str] = {}  # (chat, user) -> status
        self.webhook: JSON = {}
        self._state = _Bot()
        self._chats: dict[int, JSON] = {}
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._floods: dict[str, list[int]] = {}
        self._refuse_entities = 0
        self.group_limit: int | None = None  # set: Telegram's flood control, per group/minute
        self._arrived = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- server -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL for PTB's `base_url` (the token and method are appended)."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._serve)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        self._arrived.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = {k: _decode(k, v) for k, v in (await request.post()).items()}
        call = Call(method, params, time.monotonic())
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            pending = self._floods.get(method)
            if pending:
                wait = pending.pop(0)
                raise ApiError(429, f"Too Many Requests: retry after {wait}",
                               {"retry_after": wait})
            self._flood_control(method, params, call.at)
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
            body: JSON = {"ok": True, "result": result}
        except ApiError as exc:
            call.status = exc.status
            body = {"ok": False, "error_code": exc.status, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
        if method != "getUpdates" or call.params.get("timeout", 0) == 0 or body.get("result"):
            await self._record(call)
        return web.json_response(body, status=call.status)

    def in_group(self, chat_id: int, since: float = 0.0) -> list[Call]:
        """Successful sends and edits into group `chat_id` (from `since`, monotonic)."""
        return [c for c in self.calls if c.status == 200 and c.at >= since
                and c.method in ("sendMessage", "editMessageText")
                and c.params.get("chat_id") == chat_id]

    def _flood_control(self, method: str, params: JSON, at: float) -> None:
        """With `group_limit`: a group's sends and edits beyond it in any 60 s get a 429."""
        chat = params.get("chat_id")
        if (self.group_limit is None or method not in ("sendMessage", "editMessageText")
                or not isinstance(chat, int) or chat >= 0):
            return
        recent = self.in_group(chat, at - 60.0)
        if len(recent) >= self.group_limit:
            wait = max(1, round(recent[-self.group_limit].at + 60.0 - at))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    # ---- what tests do ------------------------------------------------------------------

    def flood(self, method: str, retry_after: int = 1) -> None:
        """The next call of `method` answers 429 Too Many Requests with `retry_after`."""
        self._floods.setdefault(method, []).append(retry_after)

    def refuse_entities(self, times: int = 1) -> None:
        """The next `times` messages sent with entities answer 400 "can't parse entities"."""
        self._refuse_entities += times

    def _formatted(self, params: JSON) -> tuple[str, list[JSON]]:
        """The text and entities a message shows, or a 400 as the Bot API answers."""
        text = str(params["text"])
        try:
            mode = params.get("parse_mode")
            if mode is not None and mode != "MarkdownV2":
                raise CannotParse(f"unsupported parse_mode {mode!r} in this fake")
            if mode == "MarkdownV2":
                text, entities = parse_markdown_v2(text)
            else:
                entities = check_entities(text, params.get("entities") or [])
            if entities and self._refuse_entities:
                self._refuse_entities -= 1
                raise CannotParse("refused by the test")
        except CannotParse as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        if not text.strip() or len(text) > 4096:
            raise ApiError(400, "Bad Request: message text is empty or too long")
        return text, entities

    def set_member(self, chat: Chat, user: User, status: str) -> None:
        """What getChatMember says: creator, administrator, member, left, …"""
        self.members[(chat.id, user.id)] = status

    def say(self, chat: Chat, user: User, text: str, *, reply_to: int | None = None,
            thread: int | None = None) -> int:
        """Queue a text message from `user`; returns its message id."""
        update = self.update(chat, user, text, reply_to=reply_to, thread=thread)
        self._updates.append(update)
        self._arrived.set()
        return int(update["message"]["message_id"])

    def update(self, chat: Chat, user: User, text: str, *, reply_to: int | None = None,
               thread: int | None = None) -> JSON:
        """A message update as Telegram would deliver it (to `getUpdates` or a webhook)."""
        self._chats[chat.id] = chat.json()
        message = self._message(chat, user.json(), text, thread)
        entities = _entities(text)
        if entities:
            message["entities"] = entities
        if thread is not None:
            message["is_topic_message"] = True
            message["reply_to_message"] = {  # Telegram's topic root, not a real reply
                "message_id": thread, "date": int(time.time()), "chat": chat.json(),
                "message_thread_id": thread, "from": user.json(),
                "forum_topic_created": {"name": "Topic", "icon_color": 7322096}}
        if reply_to is not None:
            message["reply_to_message"] = self._original(chat.id, reply_to)
        return {"update_id": next(self._update_ids), "message": message}

    def deliver(self, update: JSON) -> None:
        """Deliver an update built with `update` (again: as a retried webhook does)."""
        self._push(dict(update))

    async def push(self, update: JSON, *, retry_s: float = 0.2, within: float = 60.0,
                   url: str | None = None) -> list[int]:
        """POST `update` to the webhook set with `setWebhook` (or `url`), with its secret
        token, again after a pause while the answer is not 200, as Telegram does; returns
        the statuses it got (the last one 200)."""
        import aiohttp

        target = url or str(self.webhook["url"])
        headers = {"X-Telegram-Bot-Api-Secret-Token": str(self.webhook.get("secret_token", ""))}
        statuses: list[int] = []
        deadline = asyncio.get_running_loop().time() + within
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.post(target, json=update, headers=headers) as answer:
                        statuses.append(answer.status)
                except aiohttp.ClientError:
                    statuses.append(0)
                if statuses[-1] == 200 or asyncio.get_running_loop().time() > deadline:
                    return statuses
                await asyncio.sleep(retry_s)

    def press(self, chat: Chat, user: User, message_id: int, data: str) -> str:
        """Queue a press of an inline button on a bot message; returns the query id."""
        query_id = str(next(self._callback_ids))
        self._push({"callback_query": {
            "id": query_id, "from": user.json(), "chat_instance": str(chat.id), "data": data,
            "message": self._original(chat.id, message_id)}})
        return query_id

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    def texts(self, chat: Chat, thread: int | None = None) -> list[str]:
        """The bot's messages in a chat (or topic) as they read now, oldest first."""
        return [m["text"] for (c, _), m in sorted(self._state.messages.items())
                if c == chat.id and (thread is None or m.get("message_thread_id") == thread)]

    def message(self, chat: Chat, message_id: int) -> JSON:
        return self._state.messages[(chat.id, message_id)]

    def last_id(self, chat: Chat) -> int:
        return max(i for c, i in self._state.messages if c == chat.id)

    async def wait_for(self, check: Callable[[], Any], within: float = 15.0) -> Any:
        """Wait until `check()` is truthy (re-checked after each call); returns its value."""
        async def until() -> Any:
            async with self._changed:
                while not (value := check()):
                    await self._changed.wait()
                return value
        return await asyncio.wait_for(until(), within)

    async def settle(self, quiet: float = 0.3) -> None:
        """Wait until no call has arrived for `quiet` seconds."""
        while True:
            seen = len(self.calls)
            await asyncio.sleep(quiet)
            if len(self.calls) == seen:
                return

    # ---- helpers ------------------------------------------------------------------------

    def _next_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _message(self, chat: Chat, sender: JSON, text: str, thread: int | None) -> JSON:
        message: JSON = {"message_id": self._next_id(chat.id), "date": int(time.time()),
                         "chat": chat.json(), "from": sender, "text": text}
        if thread is not None:
            message["message_thread_id"] = thread
        return message

    def _original(self, chat_id: int, message_id: int) -> JSON:
        found = self._state.messages.get((chat_id, message_id))
        if found is None:
            return {"message_id": message_id, "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "supergroup", "title": "?"},
                    "from": {"id": 1, "is_bot": False, "first_name": "Someone"}, "text": "…"}
        return dict(found)

    def _push(self, update: JSON) -> None:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._arrived.set()

    def _bot_message(self, params: JSON, key: tuple[int, int]) -> JSON:
        found = self._state.messages.get(key)
        if found is None or key in self._state.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        return found

    # ---- Bot API methods --------------------------------------------------------------------

    def _api_getMe(self, params: JSON) -> JSON:
        return self.bot

    def _api_deleteWebhook(self, params: JSON) -> bool:
        self.webhook = {}
        return True

    def _api_setWebhook(self, params: JSON) -> bool:
        self.webhook = params
        return True

    def _api_setMyCommands(self, params: JSON) -> bool:
        return True

    def _api_sendChatAction(self, params: JSON) -> bool:
        return True

    def _api_answerCallbackQuery(self, params: JSON) -> bool:
        return True

    async def _api_getUpdates(self, params: JSON) -> list[JSON]:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and params.get("timeout"):
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), float(params["timeout"]))
            except TimeoutError:
                pass
        return self._updates[: int(params.get("limit") or 100)]

    def _api_sendMessage(self, params: JSON) -> JSON:
        chat_id = int(params["chat_id"])
        chat = self._chats.get(chat_id) or {"id": chat_id, "type": "supergroup", "title": "?"}
        text, entities = self._formatted(params)
        message: JSON = {"message_id": self._next_id(chat_id), "date": int(time.time()),
                         "chat": chat, "from": self.bot, "text": text}
        if entities:
            message["entities"] = entities
        for key in ("message_thread_id", "reply_markup"):
            if params.get(key) is not None:
                message[key] = params[key]
        if "message_thread_id" in message:
            message["is_topic_message"] = True
        self._state.messages[(chat_id, message["message_id"])] = message
        return message

    def _api_sendPhoto(self, params: JSON) -> JSON:
        chat_id = int(params["chat_id"])
        chat = self._chats.get(chat_id) or {"id": chat_id, "type": "supergroup", "title": "?"}
        photo = params.get("photo")
        if not isinstance(photo, web.FileField):
            raise ApiError(400, "Bad Request: there is no photo in the request")
        params["photo"] = photo.file.read()  # keep the bytes for the test to look at
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        message: JSON = {"message_id": self._next_id(chat_id), "date": int(time.time()),
                         "chat": chat, "from": self.bot, "caption": caption,
                         "photo": [{"file_id": "p1", "file_unique_id": "p1", "width": 1100,
                                    "height": 750}]}
        self._state.messages[(chat_id, message["message_id"])] = message
        return message

    def _api_editMessageText(self, params: JSON) -> JSON:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self._bot_message(params, key)
        text, entities = self._formatted(params)
        markup = params.get("reply_markup")
        if (text == message["text"] and markup == message.get("reply_markup")
                and entities == message.get("entities", [])):
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        return message

    def _api_deleteMessage(self, params: JSON) -> bool:
        key = (int(params["chat_id"]), int(params["message_id"]))
        self._bot_message(params, key)
        del self._state.messages[key]
        return True

    def _api_getChatMember(self, params: JSON) -> JSON:
        user_id = int(params["user_id"])
        status = self.members.get((int(params["chat_id"]), user_id), "member")
        member: JSON = {"status": status,
                        "user": {"id": user_id, "is_bot": False, "first_name": "U"}}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member |= ADMIN_RIGHTS
        return member


def _decode(key: str, value: Any) -> Any:
    if key in ("text", "caption") or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _entities(text: str) -> list[JSON]:
    """`bot_command` for a leading /command and `mention` for each @name, as Telegram adds."""
    found: list[JSON] = []
    if text.startswith("/"):
        found.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
    start = 0
    while (at := text.find("@", start)) >= 0:
        end = at + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if end > at + 1 and not (found and at < found[0]["length"] and text.startswith("/")):
            found.append({"type": "mention", "offset": at, "length": end - at})
        start = end
    return found
