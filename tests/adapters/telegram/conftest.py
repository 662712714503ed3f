from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.telegram import TelegramOptions, run_telegram
from bot.app import App, assemble
from bot.config import Settings
from bot.conversation.service import ServiceOptions
from bot.storage import Store
from engines import BlendedEngine, ChatModel
from engines.ranker import SHIPPED_MODEL
from engines.ranker.provider import RankerProvider
from tests.fakes.telegram_api import FakeTelegram
from tests.stubs import StubModel

FAST = TelegramOptions(private=1.0, group=3.0, poll_timeout=1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


async def make_app(tmp_path: Path, fake: FakeTelegram, models: list[ChatModel] | None = None,
                   token: str | None = None, **settings: Any) -> App:
    settings.setdefault("telegram_api_url", fake.url)
    config = Settings(data_dir=tmp_path, telegram_token=token or fake.token, **settings)
    store = Store(config.database)
    await store.open()
    engine = BlendedEngine(models or [StubModel("smollm2-135m"), StubModel("gemma3-270m")],
                           seed=1, ranker=RankerProvider(SHIPPED_MODEL))  # as `run`
    return assemble(config, store, engine, ServiceOptions(rate_limit=100))


Starter = Callable[..., Awaitable[App]]


@pytest.fixture
async def start_bot(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[Starter]:
    """Starts `run_telegram` on an app against the fake; stops and closes it afterwards."""
    running: list[tuple[App, asyncio.Task[None]]] = []

    async def start(models: list[ChatModel] | None = None,
                    options: TelegramOptions = FAST, **settings: Any) -> App:
        app = await make_app(tmp_path, fake, models, **settings)
        task = asyncio.create_task(run_telegram(app.core, app.settings, options))
        await fake.wait_for(lambda: fake.of("setMyCommands") or task.done())
        if task.done():
            await app.close()
            task.result()  # raises what stopped it
        running.append((app, task))
        return app

    yield start
    for app, task in running:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await app.close()


@pytest.fixture
async def app(start_bot: Starter) -> App:
    """A running bot on two stub models."""
    return await start_bot()
