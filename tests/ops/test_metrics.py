"""The core's and the engine's facts as Prometheus series, and the health endpoints."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError
from bot.ops.server import OpsServer, Readiness
from bot.storage import Store
from engines import BlendedEngine, BreakerConfig
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.ops.postgres import free_port
from tests.stubs import StubModel


def values(core, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(core.metrics.exposition().decode()):
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


async def test_replies_failovers_and_rate_limits_are_counted_by_label(store: Store) -> None:
    engine = BlendedEngine([StubModel("broken", fail_after=0), StubModel("good")], seed=1,
                           breaker=BreakerConfig(failures=1, bench_s=3600))
    core = core_for(store, engine, rate_limit=2, rate_window_s=600,
                    rate_limit_exempt=())
    for text in ("one", "two", "three"):
        await core.handle(event(text, user="Alice Secret"), MemoryOutbox())

    replies = values(core, "blendbot_replies_total")
    assert replies == {(("mode", "uniform"), ("model", "good"), ("platform", "discord")): 2.0}
    assert values(core, "blendbot_failovers_total") == {(("model", "broken"),): 1.0}
    assert values(core, "blendbot_rate_limited_total") == {(("platform", "discord"),): 1.0}
    assert values(core, "blendbot_model_healthy") == {(("model", "broken"),): 0.0,
                                                      (("model", "good"),): 1.0}
    counts = values(core, "blendbot_reply_first_token_seconds_count")
    assert counts[(("model", "good"),)] == 2.0
    text = core.metrics.exposition().decode()
    for private in ("Alice", "alice", "c1", "g1", "one", "two"):
        assert private not in text


async def test_queue_depth_shows_waiting_requests(store: Store) -> None:
    gate = asyncio.Event()

    async def hold(_conversation: object) -> None:
        await gate.wait()

    slow = StubModel("slow", before=hold)
    slow_engine = BlendedEngine([slow], seed=1)
    slow_engine.queues["slow"].limit = 1
    core = core_for(store, slow_engine)
    turns = [asyncio.create_task(core.handle(event("hi", channel=f"c{i}"), MemoryOutbox()))
             for i in range(3)]
    for _ in range(100):
        await asyncio.sleep(0.01)
        if values(core, "blendbot_queue_depth").get((("model", "slow"),)) == 2.0:
            break
    assert values(core, "blendbot_queue_depth") == {(("model", "slow"),): 2.0}
    assert values(core, "blendbot_model_in_flight") == {(("model", "slow"),): 1.0}
    gate.set()
    await asyncio.gather(*turns)
    assert values(core, "blendbot_queue_depth") == {(("model", "slow"),): 0.0}


async def test_readyz_is_503_until_every_platform_is_connected(store: Store) -> None:
    core = core_for(store, [StubModel("good")])
    port = free_port()
    server = OpsServer(core.metrics, Readiness(store, core.service.engine, core,
                                               ["discord", "telegram"]), port, "127.0.0.1")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async def ready() -> tuple[int, dict]:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    return r.status, await r.json()

            core.platform_connected("discord")
            assert await ready() == (503, {"ready": False, "database": True,
                                           "platforms": False, "models": True})
            core.platform_connected("telegram")
            assert (await ready())[0] == 200
            core.platform_connected("discord", False)  # a dropped gateway connection
            assert (await ready())[0] == 503
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert r.status == 200 and "blendbot_model_healthy" in await r.text()
        with pytest.raises(ConfigError, match=f"BLENDBOT_METRICS_PORT {port}"):
            await OpsServer(core.metrics, server.readiness, port, "127.0.0.1").start()
    finally:
        await server.close()
