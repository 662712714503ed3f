"""A loopback fake of Discord's REST API and gateway, enough for the real discord.py client.

It records every REST call, keeps sent messages, and lets a test dispatch gateway events
(MESSAGE_CREATE, INTERACTION_CREATE, MESSAGE_REACTION_ADD, ...) as a user would cause them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

API = "/api/v10"
MANAGE_GUILD = 1 << 5
EVERYTHING = (1 << 41) - 1
_ids = itertools.count(1_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


def now() -> str:
    return "2026-11-24T10:00:00.000000+00:00"


def user_obj(uid: str, name: str, bot: bool = False) -> dict[str, Any]:
    return {"id": uid, "username": name, "global_name": name, "discriminator": "0",
            "avatar": None, "bot": bot, "public_flags": 0, "flags": 0}


def json_response(data: Any, status: int = 200) -> web.Response:
    # discord.py reads JSON only when Content-Type is exactly application/json
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json"})


@dataclass
class Call:
    method: str
    path: str
    body: Any
    time: float


@dataclass
class FakeDiscord:
    bot_id: str = field(default_factory=snowflake)
    app_id: str = field(default_factory=snowflake)
    guild_id: str = field(default_factory=snowflake)
    channel_id: str = field(default_factory=snowflake)
    thread_id: str = field(default_factory=snowflake)
    admin_id: str = field(default_factory=snowflake)
    member_id: str = field(default_factory=snowflake)
    valid_token: str = "test-token"
    deny_message_content: bool = False
    extra_channels: list[str] = field(default_factory=list)  # more text channels of the guild
    nsfw_channels: set[str] = field(default_factory=set)  # age-restricted ones among them
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    identifies: list[dict[str, Any]] = field(default_factory=list)
    identified_at: list[tuple[int, float]] = field(default_factory=list)  # (shard, monotonic)
    max_concurrency: int = 1  # session_start_limit's: IDENTIFY buckets
    shard_count: int = 1  # what /gateway/bot recommends
    guilds: dict[str, list[str]] = field(default_factory=dict)  # more guilds: their channels

    def __post_init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self.app.router.add_get("/gateway", self._gateway)
        self._sockets: list[web.WebSocketResponse] = []
        self._shard_of: dict[web.WebSocketResponse, tuple[int, int]] = {}  # identified shards
        self._seq = itertools.count(1)
        self.ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- server lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- what the bot did -----------------------------------------------------------------

    def posts(self, channel_id: str | None = None) -> list[Call]:
        """Messages the bot created (REST POST .../messages), in order."""
        return [c for c in self.calls if c.method == "POST" and c.path.endswith("/messages")
                and (channel_id is None or f"/channels/{channel_id}/" in c.path)]

    def edits(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PATCH" and "/messages/" in c.path
                and c.path.startswith("/channels/")]

    def followups(self) -> list[Call]:
        return [c for c in self.calls if c.path.startswith(f"/webhooks/{self.app_id}/")
                and c.method == "POST"]

    def callbacks(self) -> list[Call]:
        return [c for c in self.calls if c.path.startswith("/interactions/")]

    def bot_messages(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values()
                if m["channel_id"] == channel_id and m["author"]["id"] == self.bot_id
                and not m.get("interaction_response")]

    # ---- REST -----------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            if request.content_type == "multipart/form-data":
                form = await request.post()
                body = json.loads(form["payload_json"]) if "payload_json" in form else {}
                body["_files"] = {f.filename: f.file.read() for k, f in form.items()
                                  if k != "payload_json" and hasattr(f, "file")}
            else:
                raw = await request.read()
                body = json.loads(raw) if raw else None
        self.calls.append(Call(request.method, path, body, asyncio.get_running_loop().time()))
        auth = request.headers.get("Authorization", "")
        if not path.startswith(("/interactions/", "/webhooks/")) and (
            auth != f"Bot {self.valid_token}"
        ):
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        return await self._route(request.method, path, body, request.query)

    async def _route(self, method: str, path: str, body: Any,
                     query: Mapping[str, str] | None = None) -> web.Response:
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return json_response(user_obj(self.bot_id, "blendbot", bot=True))
        if path == "/oauth2/applications/@me":
            return json_response({
                "id": self.app_id, "name": "blendbot", "description": "", "icon": None,
                "bot_public": True, "bot_require_code_grant": False, "verify_key": "00",
                "owner": user_obj(self.admin_id, "owner"), "flags": 0,
            })
        if path == "/gateway/bot":
            return json_response({"url": self.gateway_url, "shards": self.shard_count,
                                  "session_start_limit": {
                "total": 1000, "remaining": 1000, "reset_after": 0,
                "max_concurrency": self.max_concurrency}})
        if parts[0] == "applications" and parts[-1] == "commands" and method == "PUT":
            self.commands = [{**c, "id": snowflake(), "application_id": self.app_id,
                              "version": "1"} for c in body]
            return json_response(self.commands)
        if parts[0] == "channels" and len(parts) == 2 and method == "GET":
            gid = self.guild_of(parts[1])
            return json_response({"id": parts[1], "type": 0, "name": "channel", "guild_id": gid,
                                  "position": 0, "permission_overwrites": [], "nsfw": False,
                                  "parent_id": None, "rate_limit_per_user": 0})
        if parts[0] == "channels" and parts[-1] == "typing":
            return web.Response(status=204)
        if parts[0] == "channels" and parts[2:] == ["messages"] and method == "GET":
            return json_response(self.history(parts[1], query or {}))
        if parts[0] == "channels" and parts[2:3] == ["messages"]:
            return self._messages(method, parts, body)
        if parts[0] == "interactions" and method == "POST":
            resource = {"type": body.get("type")}
            return json_response({"interaction": {"id": parts[1], "type": 2}, "resource":
                                  resource})
        if parts[0] == "webhooks":
            # interaction responses: kept apart from channel messages (see followups())
            msg = self.store_message(self.channel_id, self.bot_id,
                                     (body or {}).get("content", ""), bot=True,
                                     extra={"flags": (body or {}).get("flags", 0),
                                            "interaction_response": True})
            return json_response(msg)
        return json_response({"message": f"fake: no route {method} {path}", "code": 0}, 404)

    def _messages(self, method: str, parts: list[str], body: Any) -> web.Response:
        channel = parts[1]
        if len(parts) == 3 and method == "POST":
            extra: dict[str, Any] = {"components": body.get("components", [])}
            reference = body.get("message_reference")
            if reference:  # a reply, as Discord keeps it
                extra.update(type=19, message_reference={"channel_id": channel, **reference},
                             referenced_message=self.messages.get(
                                 str(reference.get("message_id"))))
            msg = self.store_message(channel, self.bot_id, body.get("content", ""), bot=True,
                                     extra=extra)
            return json_response(msg)
        mid = parts[3]
        if method == "PATCH" and mid in self.messages:
            self.messages[mid].update({k: v for k, v in body.items() if k in
                                       ("content", "components")})
            return json_response(self.messages[mid])
        if method == "DELETE":
            self.messages.pop(mid, None)
            return web.Response(status=204)
        if method == "GET" and mid in self.messages:
            return json_response(self.messages[mid])
        return json_response({"message": "Unknown Message", "code": 10008}, 404)

    def history(self, channel_id: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /channels/{id}/messages as Discord answers it: newest first; with `after`, the
        `limit` messages right after it."""
        limit = min(100, int(query.get("limit", 50)))
        mine = sorted((m for m in self.messages.values() if m["channel_id"] == channel_id),
                      key=lambda m: int(m["id"]))
        if "after" in query:
            mine = [m for m in mine if int(m["id"]) > int(query["after"])][:limit]
        else:
            mine = mine[-limit:]
        return mine[::-1]

    def store_message(self, channel_id: str, author_id: str, content: str, *, bot: bool = False,
                      extra: dict[str, Any] | None = None,
                      guild_id: str | None = None) -> dict[str, Any]:
        author = user_obj(author_id, "blendbot" if bot else self.name_of(author_id), bot=bot)
        msg = {
            "id": snowflake(), "channel_id": channel_id,
            "guild_id": guild_id or self.guild_of(channel_id),
            "author": author, "content": content, "timestamp": now(),
            "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": False, "type": 0, "components": [], **(extra or {}),
        }
        self.messages[msg["id"]] = msg
        return msg

    def guild_of(self, channel_id: str) -> str:
        return next((g for g, channels in self.guilds.items() if channel_id in channels),
                    self.guild_id)

    def name_of(self, uid: str) -> str:
        return {self.admin_id: "Alice", self.member_id: "Bob"}.get(uid, "Carol")

    # ---- gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                op = payload["op"]
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    await self._identify(ws, payload["d"])
                elif op == 6:  # resume: ask for a fresh identify
                    await ws.send_str(json.dumps({"op": 9, "d": False}))
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._shard_of.pop(ws, None)
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        self.identified_at.append(((data.get("shard") or [0])[0], time.monotonic()))
        if data.get("token") != self.valid_token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if self.deny_message_content and data.get("intents", 0) & (1 << 15):
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = tuple(data.get("shard") or (0, 1))
        mine = [g for g in [self.guild_id, *self.guilds] if self._on(g, shard)]
        ready = {
            "v": 10, "user": user_obj(self.bot_id, "blendbot", bot=True),
            "session_id": snowflake(), "resume_gateway_url": self.gateway_url,
            "guilds": [{"id": g, "unavailable": True} for g in mine],
            "application": {"id": self.app_id, "flags": 0}, "private_channels": [],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._send(ws, "READY", ready)
        self._shard_of[ws] = (int(shard[0]), int(shard[1]))  # events flow from READY on
        for gid in mine:
            await self._send(ws, "GUILD_CREATE", self.guild(gid))
        self.ready.set()

    @staticmethod
    def _on(guild_id: str, shard: tuple[int, ...]) -> bool:
        """The guild belongs to `shard` (id, count), as Discord assigns it."""
        return len(shard) < 2 or shard[1] <= 1 or (int(guild_id) >> 22) % shard[1] == shard[0]

    def shards_up(self) -> set[int]:
        """The shard ids with an identified gateway session now."""
        return {shard for shard, _ in self._shard_of.values()}

    def guild(self, guild_id: str | None = None) -> dict[str, Any]:
        gid = guild_id or self.guild_id
        channels = ([self.channel_id, *self.extra_channels] if gid == self.guild_id
                    else self.guilds[gid])

        def member(uid: str, name: str, roles: list[str], bot: bool = False) -> dict[str, Any]:
            return {"user": user_obj(uid, name, bot), "roles": roles, "joined_at": now(),
                    "deaf": False, "mute": False, "flags": 0}

        admin_role = snowflake()
        return {
            "id": gid, "name": "Test Guild" if gid == self.guild_id else f"Guild {gid}",
            "owner_id": self.admin_id,
            "icon": None, "splash": None, "discovery_splash": None, "afk_channel_id": None,
            "afk_timeout": 300, "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "system_channel_id": None,
            "system_channel_flags": 0, "rules_channel_id": None, "vanity_url_code": None,
            "description": None, "banner": None, "premium_tier": 0, "preferred_locale": "en-US",
            "public_updates_channel_id": None, "nsfw_level": 0, "premium_progress_bar_enabled":
            False, "features": [], "emojis": [], "stickers": [], "large": False,
            "unavailable": False, "member_count": 3, "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
            "joined_at": now(),
            "roles": [
                {"id": gid, "name": "@everyone", "permissions": str(1024 | 2048),
                 "position": 0, "color": 0, "hoist": False, "managed": False,
                 "mentionable": False, "flags": 0},
                {"id": admin_role, "name": "admin", "permissions": str(MANAGE_GUILD | 1024 | 2048),
                 "position": 1, "color": 0, "hoist": False, "managed": False,
                 "mentionable": False, "flags": 0},
            ],
            "channels": [{"id": cid, "type": 0, "name": f"general-{n}" if n else "general",
                          "position": n,
                          "permission_overwrites": [], "nsfw": cid in self.nsfw_channels,
                          "topic": None,
                          "last_message_id": None, "rate_limit_per_user": 0,
                          "parent_id": None}
                         for n, cid in enumerate(channels)],
            "threads": [] if gid != self.guild_id else [{
                         "id": self.thread_id, "type": 11, "name": "a thread",
                         "guild_id": self.guild_id, "parent_id": self.channel_id,
                         "owner_id": self.admin_id, "message_count": 0, "member_count": 1,
                         "rate_limit_per_user": 0, "flags": 0,
                         "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                             "archive_timestamp": now(), "locked": False}}],
            "members": [member(self.bot_id, "blendbot", [], True),
                        member(self.admin_id, "Alice", [admin_role]),
                        member(self.member_id, "Bob", [])],
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Any) -> None:
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def dispatch(self, event: str, data: Any) -> bool:
        """Send an event to the sessions it belongs to (by its guild's shard; a session gets
        events once its READY is sent); False if no session took it."""
        guild = data.get("guild_id") if isinstance(data, dict) else None
        sent = False
        for ws in list(self._sockets):
            shard = self._shard_of.get(ws)
            if shard is None or (guild is not None and not self._on(guild, shard)):
                continue
            try:
                await self._send(ws, event, data)
                sent = True
            except (ConnectionError, RuntimeError):  # a session going away
                continue
        return sent

    async def drop_connection(self) -> None:
        """Close every gateway socket as Discord does when it wants a reconnect."""
        self.ready.clear()
        for ws in list(self._sockets):
            await ws.close(code=4000, message=b"Unknown error")

    # ---- what users do --------------------------------------------------------------------

    def member_payload(self, uid: str) -> dict[str, Any]:
        roles = [r["id"] for r in self.guild()["roles"][1:]] if uid == self.admin_id else []
        return {"user": user_obj(uid, self.name_of(uid)), "roles": roles, "joined_at": now(),
                "deaf": False, "mute": False, "flags": 0}

    async def user_says(self, content: str, *, uid: str | None = None,
                        channel_id: str | None = None, mention: bool = False,
                        reply_to: str | None = None, deliver: bool = True) -> dict[str, Any]:
        """A user's message; `deliver=False`: kept (REST reads it) but never dispatched, as
        during an outage of its server."""
        uid = uid or self.member_id
        channel_id = channel_id or self.channel_id
        text = f"<@{self.bot_id}> {content}" if mention else content
        extra: dict[str, Any] = {
            "mentions": [user_obj(self.bot_id, "blendbot", True)] if mention else [],
            "member": {k: v for k, v in self.member_payload(uid).items() if k != "user"},
        }
        if reply_to is not None:
            extra["message_reference"] = {"message_id": reply_to, "channel_id": channel_id,
                                          "guild_id": self.guild_id}
            extra["referenced_message"] = self.messages.get(reply_to)
            extra["type"] = 19
        msg = self.store_message(channel_id, uid, text, extra=extra)
        if deliver:
            await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def outage(self, guild_id: str | None = None) -> None:
        """The server goes unavailable for the sessions (Discord's GUILD_DELETE, unavailable)."""
        await self.dispatch("GUILD_DELETE", {"id": guild_id or self.guild_id,
                                             "unavailable": True})

    async def back(self, guild_id: str | None = None) -> None:
        """The server is available again mid-session (a GUILD_CREATE)."""
        await self.dispatch("GUILD_CREATE", self.guild(guild_id))

    async def slash(self, name: str, sub: str | None = None, /, *, uid: str,
                    channel_id: str | None = None, **options: Any) -> str:
        """Run `/name [sub] key:value ...` as `uid`; returns the interaction id."""
        command = next(c for c in self.commands if c["name"] == name)
        resolved: dict[str, Any] = {}
        opts = []
        for k, v in options.items():
            if isinstance(v, tuple) and v[0] == "channel":  # a channel picked by the user
                opts.append({"name": k, "type": 7, "value": v[1]})
                resolved.setdefault("channels", {})[v[1]] = {
                    "id": v[1], "type": 0, "name": "general", "guild_id": self.guild_id,
                    "permissions": str(EVERYTHING), "parent_id": None}
            elif isinstance(v, tuple) and v[0] == "user":  # a member picked by the user
                opts.append({"name": k, "type": 6, "value": v[1]})
                payload = self.member_payload(v[1])
                resolved.setdefault("users", {})[v[1]] = payload["user"]
                resolved.setdefault("members", {})[v[1]] = {
                    **{key: val for key, val in payload.items() if key != "user"},
                    "permissions": "0"}
            elif isinstance(v, bool):
                opts.append({"name": k, "type": 5, "value": v})
            elif isinstance(v, int):
                opts.append({"name": k, "type": 4, "value": v})
            else:
                opts.append({"name": k, "type": 3, "value": v})
        data_options = [{"name": sub, "type": 1, "options": opts}] if sub else opts
        perms = EVERYTHING if uid == self.admin_id else 1024 | 2048
        member = {**self.member_payload(uid), "permissions": str(perms)}
        iid = snowflake()
        await self.dispatch("INTERACTION_CREATE", {
            "id": iid, "application_id": self.app_id, "type": 2, "token": f"tok-{iid}",
            "version": 1, "guild_id": self.guild_id, "channel_id": channel_id or self.channel_id,
            "channel": {"id": channel_id or self.channel_id, "type": 0, "name": "general",
                        "guild_id": self.guild_id,
                        "nsfw": (channel_id or self.channel_id) in self.nsfw_channels},
            "member": member, "app_permissions": str(EVERYTHING), "locale": "en-US",
            "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {},
            "context": 0, "attachment_size_limit": 10485760,
            "data": {"id": command["id"], "name": name, "type": 1, "options": data_options,
                     "resolved": resolved},
        })
        return iid

    async def click(self, message_id: str, custom_id: str, *, uid: str) -> str:
        iid = snowflake()
        member = {**self.member_payload(uid), "permissions": str(1024 | 2048)}
        await self.dispatch("INTERACTION_CREATE", {
            "id": iid, "application_id": self.app_id, "type": 3, "token": f"tok-{iid}",
            "version": 1, "guild_id": self.guild_id, "channel_id": self.channel_id,
            "channel": {"id": self.channel_id, "type": 0, "name": "general",
                        "guild_id": self.guild_id},
            "member": member, "app_permissions": str(EVERYTHING), "locale": "en-US",
            "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {},
            "context": 0, "message": self.messages[message_id], "attachment_size_limit": 10485760,
            "data": {"custom_id": custom_id, "component_type": 2},
        })
        return iid

    async def react(self, message_id: str, emoji: str, *, uid: str,
                    remove: bool = False) -> None:
        event = "MESSAGE_REACTION_REMOVE" if remove else "MESSAGE_REACTION_ADD"
        data = {"user_id": uid, "channel_id": self.messages[message_id]["channel_id"],
                "message_id": message_id, "guild_id": self.guild_id,
                "emoji": {"id": None, "name": emoji}, "burst": False, "type": 0}
        if not remove:
            data["member"] = self.member_payload(uid)
            data["message_author_id"] = self.bot_id
        await self.dispatch(event, data)
