from __future__ import annotations

import asyncio

import pytest

from engines import BlendedEngine, BlendSettings, ChatMessage, Conversation, ReplyRequest
from engines.gate import BUSY_MESSAGE, BusyError, FairGate
from tests.stubs import StubModel


async def test_channels_take_turns_round_robin() -> None:
    gate = FairGate(limit=1)
    order: list[str] = []
    release = asyncio.Event()

    async def job(channel: str, tag: str) -> None:
        async with gate.turn(channel):
            order.append(tag)
            await release.wait()

    first = asyncio.create_task(job("busy", "busy-0"))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(job("busy", f"busy-{i}")) for i in range(1, 4)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(job("quiet", "quiet-0")))
    await asyncio.sleep(0)
    assert gate.active == 1 and gate.waiting == 4
    release.set()
    await asyncio.gather(first, *tasks)
    # the quiet channel waits for one busy turn, not for all of them
    assert order == ["busy-0", "busy-1", "quiet-0", "busy-2", "busy-3"]
    assert gate.active == 0 and gate.waiting == 0


async def test_limit_bounds_concurrency_and_cancel_frees_the_place() -> None:
    gate = FairGate(limit=2)
    running = 0
    peak = 0

    async def job(channel: str) -> None:
        nonlocal running, peak
        async with gate.turn(channel):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    waiter = asyncio.create_task(job("x"))
    jobs = [asyncio.create_task(job(f"c{i % 3}")) for i in range(9)]
    waiter.cancel()
    await asyncio.gather(*jobs)
    assert peak == 2 and gate.active == 0 and gate.waiting == 0


async def test_a_bounded_queue_refuses_politely_beyond_its_bound() -> None:
    gate = FairGate(limit=1, max_waiting=2)
    release = asyncio.Event()

    async def job(channel: str) -> None:
        async with gate.turn(channel):
            await release.wait()

    tasks = [asyncio.create_task(job(c)) for c in ("a", "b", "c")]  # 1 running, 2 waiting
    await asyncio.sleep(0)
    assert gate.active == 1 and gate.waiting == 2
    with pytest.raises(BusyError, match="try again") as busy:
        async with gate.turn("d"):
            pass
    assert str(busy.value) == BUSY_MESSAGE
    release.set()
    await asyncio.gather(*tasks)
    async with gate.turn("d"):  # room again
        assert gate.active == 1


async def test_each_model_queue_takes_channels_in_turn() -> None:
    class OneAtATime(StubModel):
        @property
        def max_parallel(self) -> int:
            return 1

    order: list[str] = []
    release = asyncio.Event()

    async def hold(conversation: Conversation) -> None:
        order.append(conversation.history[-1].content)
        await release.wait()

    engine = BlendedEngine([OneAtATime("remote", before=hold)])
    assert engine.queues["remote"].limit == 1

    def ask(channel: str, text: str) -> asyncio.Task[object]:
        conv = Conversation("", [ChatMessage("user", text)])
        return asyncio.create_task(engine.reply(ReplyRequest(channel, conv,
                                                             BlendSettings("single"))))

    tasks = [ask("busy", f"busy-{i}") for i in range(3)]
    await asyncio.sleep(0.01)
    tasks.append(ask("quiet", "quiet-0"))
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["busy-0", "busy-1", "quiet-0", "busy-2"]
