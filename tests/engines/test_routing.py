"""A channel's turns stay on one replica of a model; they move only when it is out."""

from __future__ import annotations

from bot.bench_routing import RecordingServer, _turn
from engines.base import SamplingParams
from engines.endpoints import EndpointPool, session_id
from engines.openai import OpenAIModel, OpenAIOptions

URLS = ("http://a:8000/v1", "http://b:8000/v1", "http://c:8000/v1")


def test_a_session_keeps_its_replica_and_only_its_own_sessions_move() -> None:
    now = [0.0]
    pool = EndpointPool(URLS, concurrency=4, clock=lambda: now[0])
    sessions = [session_id(f"discord:{i}") for i in range(60)]
    home = {s: pool.pick(session=s) for s in sessions}
    assert all(pool.pick(session=s) is home[s] for s in sessions)  # stable
    assert len({e.base_url for e in home.values()}) == 3  # spread over the replicas

    down = pool.endpoints[0]
    pool.mark_down(down, "refused", seconds=10)
    for s in sessions:
        now_on = pool.pick(session=s)
        if home[s] is down:
            assert now_on is pool.order(s)[1]  # the next in its own order
        else:
            assert now_on is home[s]  # unaffected sessions stay
    now[0] = 11.0  # the cool-down is over: everyone is home again
    assert all(pool.pick(session=s) is home[s] for s in sessions)


def test_a_replica_whose_queue_passes_the_bound_spills_to_the_next() -> None:
    pool = EndpointPool(URLS, concurrency=2, spill_at=3)
    session = session_id("telegram:42")
    first, second = pool.order(session)[:2]
    first.waiting = 2
    assert pool.pick(session=session) is first
    first.waiting = 3
    assert pool.pick(session=session) is second


def test_least_busy_routing_ignores_the_session() -> None:
    pool = EndpointPool(URLS, concurrency=4, routing="least_busy")
    session = session_id("discord:1")
    picks = {pool.pick(session=session).base_url for _ in range(6)}
    assert len(picks) == 3  # round-robin among equally idle endpoints


async def test_turns_carry_an_opaque_session_header_and_stay_on_one_server() -> None:
    log: list[tuple[str, int]] = []
    servers = [RecordingServer(i, log) for i in range(3)]
    for server in servers:
        await server.start()
    model = OpenAIModel("stub", OpenAIOptions(base_urls=tuple(s.url for s in servers),
                                              model="stub", concurrency=4),
                        SamplingParams(max_tokens=8))
    try:
        channels = [f"discord:{i}" for i in range(12)]
        for _ in range(3):
            for channel in channels:
                await _turn(model, channel)
    finally:
        await model.close()
        for server in servers:
            await server.stop()
    by_session: dict[str, set[int]] = {}
    for session, replica in log:
        by_session.setdefault(session, set()).add(replica)
    assert set(by_session) == {session_id(c) for c in channels}  # opaque, one per channel
    assert all(len(replicas) == 1 for replicas in by_session.values())
    assert not any("discord" in s for s in by_session)
