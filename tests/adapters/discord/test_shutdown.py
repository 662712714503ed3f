"""Stopping the bot (SIGTERM, a deploy) in the middle of things: whatever it was doing is
cancelled and waited for before the store closes, never left to touch a closed database
(SQLAlchemy reports a connection cut off at exit with a traceback; CI saw one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from bot.storage.owed import ReadBack
from engines import Conversation
from tests.adapters.discord.conftest import make_app, start_bot
from tests.fakes.discord_api import FakeDiscord
from tests.stubs import StubModel


async def test_closing_the_bot_mid_catch_up_leaves_no_lookup_holding_the_database(
        tmp_path: Path, fake: FakeDiscord) -> None:
    """Right after a fresh session: the catch-up's lookup is cancelled and its connection
    returned."""
    app = await make_app(tmp_path, [StubModel("smollm2-135m")])
    looking = asyncio.Event()

    async def slow_behind(*_: object) -> list[ReadBack]:
        async with app.store.session() as s:
            await s.execute(text("SELECT 1"))
            looking.set()
            await asyncio.sleep(60)
        return []

    app.core.behind = slow_behind  # type: ignore[method-assign,assignment]
    run = await start_bot(app, fake)
    await asyncio.wait_for(looking.wait(), 20)
    await run.bot.close()
    await asyncio.wait_for(run.task, 10)
    assert app.store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await app.close()


async def test_closing_the_bot_mid_reply_cancels_the_turn_before_the_store_closes(
        tmp_path: Path, fake: FakeDiscord) -> None:
    model = StubModel("smollm2-135m")
    started = asyncio.Event()

    async def hang(_: Conversation) -> None:
        started.set()
        await asyncio.Event().wait()

    model.before = hang
    app = await make_app(tmp_path, [model])
    run = await start_bot(app, fake)
    await asyncio.wait_for(run.bot.wait_until_ready(), 20)
    await fake.user_says("hello", mention=True)
    await asyncio.wait_for(started.wait(), 20)
    await asyncio.wait_for(run.bot.close(), 20)
    await asyncio.wait_for(run.task, 10)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("discord.py: ")]
    assert app.store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await app.close()
