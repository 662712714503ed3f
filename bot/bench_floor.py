"""The floor for `blendbot bench service`: the least a streaming LLM bot on discord.py does
per mention, run under the same load to show what this machine charges for it.

On a mention it streams one chat completion from the bench's stub model (aiohttp, the
events parsed as they arrive), posts the first words, then edits the whole reply in; one
mention at a time per channel. No storage, history, prompt fitting, pipeline or metrics.
Not a product: `python -m bot.bench_floor` with the environment `bench service` gives
`blendbot run` (the token, the Discord URLs, `BLENDBOT_CONFIG` naming the stub).
"""

from __future__ import annotations

import asyncio
import json
import os
import tomllib

import aiohttp
import discord

from .adapters.discord import configure_endpoints
from .bench_service import WRITING  # how the bench knows an unfinished reply


class FloorBot(discord.Client):
    def __init__(self, chat_url: str) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents)
        self.chat_url = chat_url
        self.http_session: aiohttp.ClientSession | None = None
        self.turns: dict[int, asyncio.Lock] = {}

    async def on_message(self, message: discord.Message) -> None:
        if self.user is None or message.author == self.user or self.user not in message.mentions:
            return
        if self.http_session is None:
            self.http_session = aiohttp.ClientSession()
        async with self.turns.setdefault(message.channel.id, asyncio.Lock()):
            await self._answer(message, self.http_session)

    async def _answer(self, message: discord.Message, session: aiohttp.ClientSession) -> None:
        body = {"model": "stub", "stream": True, "max_tokens": 64,
                "messages": [{"role": "user", "content": message.content}]}
        text, shown, tail = "", None, b""
        async with session.post(self.chat_url, json=body) as response:
            async for chunk in response.content.iter_any():
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    if line.startswith(b"data: {"):
                        text += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                if text and shown is None:
                    shown = await message.channel.send(text + WRITING)
        if shown is None:
            await message.channel.send(text or "…")
        else:
            await shown.edit(content=text)

    async def close(self) -> None:
        if self.http_session is not None:
            await self.http_session.close()
        await super().close()


def main() -> None:
    configure_endpoints(os.environ["BLENDBOT_DISCORD_API_URL"],
                        os.environ["BLENDBOT_DISCORD_GATEWAY_URL"])
    with open(os.environ["BLENDBOT_CONFIG"], "rb") as config:
        base_url = tomllib.load(config)["models"][0]["base_url"]
    FloorBot(f"{base_url}/chat/completions").run(os.environ["DISCORD_TOKEN"], log_handler=None)


if __name__ == "__main__":
    main()
