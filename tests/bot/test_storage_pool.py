"""PostgreSQL connections: pinged only after sitting idle, reads in autocommit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from bot.storage import Store, pool
from tests.conftest import Database
from tests.fakes.tcp_proxy import TcpProxy


async def _read(store: Store) -> int:
    async with store.autocommit() as s:
        return int(await s.scalar(text("SELECT 41 + 1")))


@pytest.fixture
async def proxied(pg_behind_proxy: tuple[Database, TcpProxy], monkeypatch: pytest.MonkeyPatch
                  ) -> Any:
    db, proxy = pg_behind_proxy
    monkeypatch.setattr(pool, "PING_IDLE_S", 0.3)
    store = Store(db.url, pool_size=1, max_overflow=0, **db.engine_kwargs)
    await store.open()
    pings: list[int] = []
    ping = store.engine.sync_engine.dialect.do_ping

    def counted(dbapi: Any) -> bool:
        pings.append(1)
        return bool(ping(dbapi))

    monkeypatch.setattr(store.engine.sync_engine.dialect, "do_ping", counted)
    yield store, proxy, pings
    await store.close()


async def test_a_connection_in_use_is_not_pinged_and_one_that_sat_idle_is(proxied: Any) -> None:
    store, _, pings = proxied
    for _ in range(20):  # one turn's reads and writes after another
        assert await _read(store) == 42
    assert pings == []  # each would have cost BEGIN, a query and ROLLBACK
    await asyncio.sleep(0.4)
    assert await _read(store) == 42
    assert pings == [1]


async def test_a_connection_cut_while_idle_is_replaced_before_a_turn_uses_it(
        proxied: Any) -> None:
    store, proxy, pings = proxied
    assert await _read(store) == 42
    await proxy.down()  # a database restart or a dropped link: the pooled connection is dead
    await proxy.up()
    await asyncio.sleep(0.4)
    assert await _read(store) == 42  # the ping found it dead: a new connection read
    assert pings == [1]


async def test_reads_run_in_autocommit_and_writes_in_a_transaction(proxied: Any) -> None:
    store, _, _ = proxied
    now = text("SELECT now()")  # when the transaction began
    async with store.autocommit() as s:
        first = await s.scalar(now)
        await asyncio.sleep(0.01)
        assert await s.scalar(now) > first  # each statement its own transaction: no BEGIN
    async with store.session() as s:
        first = await s.scalar(now)
        await asyncio.sleep(0.01)
        assert await s.scalar(now) == first
