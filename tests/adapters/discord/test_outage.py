"""A server that goes unavailable in the middle of a session (a Discord outage) and comes back:
Discord sends nothing of what was said meanwhile, so the bot reads its recent channels back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from bot.storage.owed import ReadBack
from tests.adapters.discord.conftest import Running, make_app, start_bot, until
from tests.adapters.discord.test_behaviour import replies_in
from tests.fakes.discord_api import FakeDiscord
from tests.stubs import StubModel


async def test_mentions_made_while_a_server_was_unavailable_are_answered_when_it_is_back(
        running: Running, fake: FakeDiscord) -> None:
    await fake.user_says("hello", mention=True)
    await replies_in(fake, fake.channel_id)
    guild = running.bot.get_guild(int(fake.guild_id))
    assert guild is not None

    await fake.outage()
    await until(lambda: guild.unavailable)
    await fake.user_says("are you there?", mention=True, deliver=False)
    await fake.user_says("hello again", mention=True, deliver=False)
    await fake.back()

    replies = await replies_in(fake, fake.channel_id, 3)
    assert len(replies) == 3  # one each, none twice
    history = await running.app.service.history("discord", fake.channel_id)
    assert [m.text for m in history if m.role == "user"] == [
        "hello", "are you there?", "hello again"]

    await fake.user_says("and now?", mention=True)  # served as usual afterwards
    await replies_in(fake, fake.channel_id, 4)


async def test_closing_the_bot_mid_catch_up_leaves_no_lookup_holding_the_database(
        tmp_path: Path, fake: FakeDiscord) -> None:
    """SIGTERM right after a fresh session (CI saw it): the catch-up's lookup is cancelled
    and its connection returned before the store closes (not cut off later, which SQLAlchemy
    reports with a traceback)."""
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
