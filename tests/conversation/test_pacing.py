"""Outbound pacing: a reply's final text does not wait behind previews. Previews use only
the first part of a platform budget less what the replies' final texts took in its last
period, so a quiet chat sees every reply written live and a busy one gets its replies on
time."""

from __future__ import annotations

import random

from bot.conversation.pacing import Budget, Pacer
from bot.conversation.render import PREVIEW_RESERVE

GROUP = [Budget("telegram:chat:-100", 20, 60.0)]  # Telegram: about 20 messages a minute


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def replies(pacer: Pacer, clock: Clock, gaps: list[float]) -> tuple[int, int]:
    """A reply after each gap: it tries a preview, then sends its final text. The previews
    shown, and the final texts that had to wait for the budget."""
    previews = waited = 0
    for gap in gaps:
        clock.now += gap
        if await pacer.claim(GROUP, PREVIEW_RESERVE) == 0.0:
            previews += 1
        wait = pacer.wait_s(GROUP)
        if wait > 0:
            waited += 1
            clock.now += wait + 0.001
        await pacer.take(GROUP)
    return previews, waited


def arrivals(per_minute: float, n: int) -> list[float]:
    rng = random.Random(1)
    return [rng.expovariate(per_minute / 60) for _ in range(n)]


async def test_a_busy_groups_previews_give_way_before_its_replies_would_wait() -> None:
    clock = Clock()
    previews, waited = await replies(Pacer(clock), clock, arrivals(8, 400))
    assert waited == 0  # 50 busy minutes, 8 replies a minute: none waited
    assert previews > 400 // 5  # still, a good share of them were written live


async def test_a_quiet_group_sees_nearly_every_reply_previewed() -> None:
    clock = Clock()
    previews, waited = await replies(Pacer(clock), clock, arrivals(2, 200))
    assert waited == 0 and previews >= 180  # nine in ten or more


async def test_previews_come_back_once_the_busy_minute_has_passed() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    await replies(pacer, clock, [1.0] * 13)  # thirteen replies in a minute
    previews, waited = await replies(pacer, clock, [60.0, 10.0, 10.0])
    assert (previews, waited) == (3, 0)
