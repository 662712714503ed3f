"""Per-user rate limits and platform budgets shared by processes through the real Redis
(127.0.0.1:6379, or BLENDBOT_TEST_REDIS_URL); Redis away → limits stay, in process."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from bot.conversation.pacing import Budget, Pacer
from bot.conversation.render import PREVIEW_RESERVE
from bot.ratelimit import RateLimiter
from bot.shared_windows import SharedWindows

REDIS_URL = os.environ.get("BLENDBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return "BLENDBOT_TEST_REDIS_URL" in os.environ
    return True


needs_redis = pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")


@pytest.fixture
async def two() -> AsyncIterator[tuple[SharedWindows, SharedWindows]]:
    """Two clients, as two processes of one bot would have."""
    a, b = SharedWindows.from_url(REDIS_URL), SharedWindows.from_url(REDIS_URL)
    yield a, b
    await a.close()
    await b.close()


@needs_redis
async def test_two_limiters_share_one_users_budget(two: tuple[SharedWindows, SharedWindows]
                                                   ) -> None:
    user = ("telegram", uuid.uuid4().hex)
    limiters = [RateLimiter(3, 30.0, shared=s) for s in two]
    waits = [await limiters[i % 2].check(user) for i in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]  # three messages, from either process ...
    assert all(28.0 < w <= 30.0 for w in waits[3:])  # ... then both say "slow down"
    other = ("telegram", uuid.uuid4().hex)
    assert await limiters[1].check(other) == 0.0  # another user has their own budget


@needs_redis
async def test_a_refunded_message_is_taken_back_for_every_process(
        two: tuple[SharedWindows, SharedWindows]) -> None:
    """A redelivery's count is given back (the core refunds it), in Redis too."""
    user = ("discord", uuid.uuid4().hex)
    first, second = (RateLimiter(2, 30.0, shared=s) for s in two)
    assert await first.check(user) == 0.0
    assert await first.check(user) == 0.0
    await first.refund(user)  # the second one was a redelivery
    assert await second.check(user) == 0.0  # so the other process still has room
    assert await second.check(user) > 0.0


@needs_redis
async def test_two_pacers_share_the_bots_outbound_budget(
        two: tuple[SharedWindows, SharedWindows]) -> None:
    budget = [Budget(f"telegram:bot:{uuid.uuid4().hex}", 5, 1.0)]
    pacers = [Pacer(shared=s) for s in two]
    claims = await asyncio.gather(*(pacers[i % 2].claim(budget) for i in range(8)))
    assert sorted(claims)[:5] == [0.0] * 5 and all(c > 0 for c in sorted(claims)[5:])
    # 15 more sends through both: the budget lets 5 through per second, so they need > 2 s
    start = time.monotonic()
    await asyncio.gather(*(pacers[i % 2].take(budget) for i in range(15)))
    assert time.monotonic() - start > 2.0


@needs_redis
async def test_previews_across_processes_leave_room_for_every_reply(
        two: tuple[SharedWindows, SharedWindows]) -> None:
    """Twelve replies in a minute to one Telegram group, from two processes: previews use
    only what the replies' final texts leave of the group's 20 a minute, so no final waits."""
    group = [Budget(f"telegram:chat:{uuid.uuid4().hex}", 20, 60.0)]
    pacers = [Pacer(shared=s) for s in two]
    previews, finals = 0, []
    for i in range(12):
        pacer = pacers[i % 2]
        previews += await pacer.claim(group, PREVIEW_RESERVE) == 0.0
        finals.append(await pacer.claim(group, must=True))
    assert finals == [0.0] * 12
    assert 5 <= previews < 12


async def test_redis_away_keeps_limits_in_process_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shared = SharedWindows.from_url(f"redis://127.0.0.1:{port}/0")
    limiter = RateLimiter(3, 30.0, shared=shared)
    pacer = Pacer(shared=shared)
    with caplog.at_level(logging.WARNING, logger="bot.shared_windows"):
        waits = [await limiter.check(("discord", "u1")) for _ in range(5)]
        claims = [await pacer.claim([Budget("discord:bot", 2, 10.0)]) for _ in range(3)]
    assert waits[:3] == [0.0] * 3 and waits[3] > 0 and waits[4] > 0
    assert claims[:2] == [0.0, 0.0] and claims[2] > 0
    unreachable = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(unreachable) == 1
    await shared.close()
