"""Several webhook workers for one bot over one database: an update is answered 200 only
once it is recorded, a chat's updates are answered in order whichever worker got them,
Telegram's retries are answered once, and a database outage loses no acknowledged update."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.adapters.telegram import TelegramOptions, run_telegram
from bot.app import App, assemble
from bot.config import Settings
from bot.conversation.service import ServiceOptions
from bot.storage import Store
from bot.storage.tables import InboxUpdate
from engines import BlendedEngine
from engines.ranker import SHIPPED_MODEL
from engines.ranker.provider import RankerProvider
from tests.conftest import Database
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram
from tests.stubs import StubModel

from .helpers import ALICE, BOB, GROUP, sent
from .test_run import free_port, listening

SECRET = "w0rkers-Secret"
QUICK = TelegramOptions(private=0.2, group=0.2, group_per_minute=10_000,
                        chat_per_second=100, poll_timeout=1)
OUTAGE_S = 30.0 if os.environ.get("BLENDBOT_LONG_TESTS") == "1" else 3.0


async def worker(tmp_path: Path, fake: FakeTelegram, db: Database, port: int) -> tuple[
        App, asyncio.Task[None]]:
    settings = Settings(data_dir=tmp_path, telegram_token=fake.token,
                        telegram_api_url=fake.url, database_url=db.url,
                        telegram_webhook_url=f"http://127.0.0.1:{port}/tg/hook",
                        telegram_webhook_listen="127.0.0.1", telegram_webhook_port=port)
    store = Store(db.url, **db.engine_kwargs)
    await store.open()
    engine = BlendedEngine([StubModel("smollm2-135m", delay=0.01)], seed=1,
                           ranker=RankerProvider(SHIPPED_MODEL))
    app = assemble(settings, store, engine, ServiceOptions(rate_limit=1000))
    app.core.inbox.lease_s = 2.0  # a dead holder's chats are taken over quickly here
    task = asyncio.create_task(run_telegram(app.core, app.settings, QUICK))
    await listening(port)
    await fake.wait_for(lambda: fake.webhook)
    return app, task


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLENDBOT_TELEGRAM_WEBHOOK_SECRET", SECRET)


async def stop(running: list[tuple[App, asyncio.Task[None]]]) -> None:
    for app, task in running:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await app.close()


def quoted(fake: FakeTelegram) -> list[int]:
    """The messages the bot's posts in the group answer, in the order it posted them."""
    return [int(c.params["reply_parameters"]["message_id"]) for c in sent(fake, GROUP)
            if c.params.get("reply_parameters")]


async def recorded(store: Store, update_id: int) -> int:
    async with store.session() as s:
        return int((await s.execute(select(func.count()).select_from(InboxUpdate)
                                    .where(InboxUpdate.update_id == update_id))).scalar_one())


async def test_two_workers_ack_recorded_updates_and_keep_a_chats_order(
        tmp_path: Path, fake: FakeTelegram, database: Database) -> None:
    ports = [free_port(), free_port()]
    running = [await worker(tmp_path / f"w{i}", fake, database, port)
               for i, port in enumerate(ports)]
    try:
        a = running[0][0]
        updates = [fake.update(GROUP, ALICE if i % 2 else BOB, f"@{BOT_USERNAME} question {i}")
                   for i in range(8)]
        for i, update in enumerate(updates):  # round robin, as a balancer sends them
            url = f"http://127.0.0.1:{ports[i % 2]}/tg/hook"
            assert await fake.push(update, url=url) == [200]
            assert await recorded(a.store, update["update_id"]) == 1  # recorded when acked
        for update in updates[2:5]:  # Telegram sends these again, to the other worker
            assert await fake.push(update, url=f"http://127.0.0.1:{ports[1]}/tg/hook") == [200]
        asked = [u["message"]["message_id"] for u in updates]
        await fake.wait_for(lambda: len(quoted(fake)) >= len(asked), 30)
        await fake.settle(0.5)
        assert quoted(fake) == asked  # each answered once, in the order they were said
        for update in updates:
            assert await recorded(a.store, update["update_id"]) == 1
    finally:
        await stop(running)


async def test_wrong_secret_and_bad_body_are_refused(tmp_path: Path, fake: FakeTelegram,
                                                     database: Database) -> None:
    port = free_port()
    running = [await worker(tmp_path, fake, database, port)]
    url = f"http://127.0.0.1:{port}/tg/hook"
    try:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(url, data=b"{not json", headers=headers) as bad:
                assert bad.status == 400
            async with http.post(url, json=fake.update(GROUP, ALICE, "x"),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as wrong:
                assert wrong.status == 403
        assert not sent(fake, GROUP)
    finally:
        await stop(running)


async def test_postgres_away_loses_no_acknowledged_update(
        tmp_path: Path, fake: FakeTelegram, pg_behind_proxy: tuple[Database, TcpProxy]) -> None:
    db, proxy = pg_behind_proxy
    port = free_port()
    running = [await worker(tmp_path, fake, db, port)]
    url = f"http://127.0.0.1:{port}/tg/hook"
    try:
        first = fake.update(GROUP, ALICE, f"@{BOT_USERNAME} before")
        assert await fake.push(first, url=url) == [200]
        await fake.wait_for(lambda: len(quoted(fake)) >= 1, 20)
        await proxy.down()
        during = [fake.update(GROUP, BOB, f"@{BOT_USERNAME} during {i}") for i in range(3)]
        pushes = [asyncio.create_task(fake.push(u, url=url, retry_s=0.5, within=OUTAGE_S + 60))
                  for u in during]
        await asyncio.sleep(OUTAGE_S)
        assert not any(p.done() for p in pushes)  # nothing acknowledged while away
        await proxy.up()
        statuses = await asyncio.gather(*pushes)
        assert all(s[-1] == 200 and 503 in s for s in statuses), statuses
        asked = [first["message"]["message_id"], *(u["message"]["message_id"] for u in during)]
        await fake.wait_for(lambda: len(quoted(fake)) >= len(asked), 30)
        await fake.settle(0.5)
        assert sorted(quoted(fake)) == asked  # every acknowledged update answered, once
    finally:
        await stop(running)
