from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord import BlendBot, configure_endpoints
from bot.app import App, assemble
from bot.config import Settings
from bot.conversation.service import ServiceOptions
from bot.storage import Store
from bot.storage.feedback import ReplyRef
from engines import BlendedEngine, ChatModel
from engines.ranker import SHIPPED_MODEL
from engines.ranker.provider import RankerProvider
from tests.fakes.discord_api import FakeDiscord
from tests.stubs import StubModel


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    configure_endpoints(server.api_url, server.gateway_url)
    yield server
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway
    await server.stop()


async def make_app(tmp_path: Path, models: list[ChatModel], **options: object) -> App:
    settings = Settings(data_dir=tmp_path)
    store = Store(settings.database)
    await store.open()
    engine = BlendedEngine(models, seed=1, ranker=RankerProvider(SHIPPED_MODEL))  # as `run`
    return assemble(settings, store, engine, ServiceOptions(**options))  # type: ignore[arg-type]


class Running:
    def __init__(self, bot: BlendBot, task: asyncio.Task[None], app: App) -> None:
        self.bot, self.task, self.app = bot, task, app


async def start_bot(app: App, fake: FakeDiscord, token: str = "test-token") -> Running:
    bot = BlendBot(app.core, guild_ready_timeout=0.1)
    task = asyncio.create_task(bot.start(token))
    return Running(bot, task, app)


@pytest.fixture
async def running(tmp_path: Path, fake: FakeDiscord) -> AsyncIterator[Running]:
    app = await make_app(tmp_path, [StubModel("smollm2-135m"), StubModel("gemma3-270m")])
    run = await start_bot(app, fake)
    await asyncio.wait_for(run.bot.wait_until_ready(), 20)
    yield run
    await run.bot.close()
    await asyncio.wait_for(run.task, 10)  # a parse error would surface here
    await app.close()


async def recorded(running: Running, message_id: str, within: float = 10.0) -> ReplyRef:
    """The stored reply a bot message shows, once the bot has recorded where it shows (a
    reply sent in one go is recorded right after the platform answers the send)."""
    deadline = asyncio.get_running_loop().time() + within
    while (ref := await running.app.service.replies.find("discord", message_id)) is None:
        assert asyncio.get_running_loop().time() < deadline, "the reply was never recorded"
        await asyncio.sleep(0.02)
    return ref


async def until(condition, within: float = 10.0) -> None:
    """Wait until `condition()` is true (the bot works concurrently)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
