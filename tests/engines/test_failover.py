"""Failover and circuit breakers in `BlendedEngine` (scriptable models, an injected clock)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from engines import (
    AllModelsDownError,
    BlendedEngine,
    BlendSettings,
    ChatMessage,
    Conversation,
    ModelError,
    ReplyRequest,
)
from engines.base import Generation
from engines.gate import BUSY_MESSAGE, BusyError
from engines.health import BreakerConfig
from tests.stubs import StubModel

CONV = Conversation("system", [ChatMessage("user", "hi", name="Alice")], bot_name="Bot")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(mode: str = "uniform", model_id: str | None = None, channel: str = "c"
            ) -> ReplyRequest:
    return ReplyRequest(channel, CONV, BlendSettings(mode, model_id=model_id))


def engine(*models: StubModel, failures: int = 3, bench_s: float = 30.0,
           clock: Clock | None = None, seed: int = 3) -> BlendedEngine:
    return BlendedEngine(list(models), seed=seed, clock=clock or Clock(),
                         breaker=BreakerConfig(failures=failures, bench_s=bench_s))


async def test_a_failing_model_is_replaced_and_the_reply_says_so() -> None:
    a, b = StubModel("a", fail_after=0), StubModel("b")
    gen = await engine(a, b).reply(request("single", "a"))
    assert gen.model_id == "b" and gen.failed_over_from == ("a",)
    assert len(a.calls) == 1


async def test_uniform_redraws_among_the_rest_until_the_failing_one_is_benched() -> None:
    a, b, c = StubModel("a", fail_after=0), StubModel("b"), StubModel("c")
    e = engine(a, b, c, failures=3)
    answered: Counter[str] = Counter()
    for _ in range(60):
        gen = await e.reply(request())
        answered[gen.model_id] += 1
        assert gen.failed_over_from in ((), ("a",))
    assert answered["a"] == 0 and answered["b"] > 10 and answered["c"] > 10
    assert len(a.calls) == 3  # benched after three failures in a row: never drawn again
    (health_a, *_) = e.health()
    assert health_a.state == "benched" and health_a.consecutive_failures == 3
    assert "boom" in (health_a.last_error or "")


async def test_a_benched_model_returns_only_after_a_successful_probe() -> None:
    clock = Clock()
    a, b = StubModel("a", fail_after=0), StubModel("b")
    e = engine(a, b, failures=2, bench_s=10, clock=clock)
    for _ in range(2):
        await e.reply(request("single", "a"))
    assert e.health()[0].state == "benched"

    clock.now += 5  # still benched: replies come from b, a is not even probed
    assert (await e.reply(request("single", "a"))).model_id == "b"
    assert len(a.calls) == 2

    clock.now += 6  # bench over, but a is still broken: the probe fails, a is benched again
    assert (await e.reply(request("single", "a"))).model_id == "b"
    await e.wait_probes()
    assert len(a.calls) == 3 and e.health()[0].state == "benched"

    a.fail_after = None  # a recovers; the next probe brings it back
    clock.now += 11
    await e.reply(request("single", "a"))
    await e.wait_probes()
    assert e.health()[0].state == "healthy"
    gen = await e.reply(request("single", "a"))
    assert gen.model_id == "a" and gen.failed_over_from == ()


async def test_errors_of_any_kind_and_timeouts_fail_over() -> None:
    async def time_out(conversation: Conversation) -> None:
        raise TimeoutError

    a, b = StubModel("a", before=time_out), StubModel("b")
    gen = await engine(a, b).reply(request("single", "a"))
    assert gen.model_id == "b" and gen.failed_over_from == ("a",)


async def test_every_member_down_is_one_clear_error() -> None:
    e = engine(StubModel("a", fail_after=0), StubModel("b", fail_after=0))
    with pytest.raises(AllModelsDownError, match=r"none of this channel's models can answer "
                                                 r"right now \(tried [ab], [ab]\)"):
        await e.reply(request())
    with pytest.raises(ModelError):  # and so for streams
        async for _ in e.stream(request()):
            pass


async def test_weighted_failover_keeps_to_the_channels_members() -> None:
    a, b, c = StubModel("a", fail_after=0), StubModel("b", fail_after=0), StubModel("c")
    e = engine(a, b, c)
    blend = BlendSettings("weighted", weights={"a": 1, "b": 1})  # c is not a member
    with pytest.raises(AllModelsDownError):
        await e.reply(ReplyRequest("c", CONV, blend))
    assert c.calls == []


async def test_a_stream_fails_over_before_its_first_word() -> None:
    a, b = StubModel("a", fail_after=0), StubModel("b")
    items = [i async for i in engine(a, b).stream(request("single", "a"))]
    assert "".join(i for i in items if isinstance(i, str)) == "b reply 1"
    final = items[-1]
    assert isinstance(final, Generation) and final.failed_over_from == ("a",)


async def test_a_stream_failing_mid_reply_raises_and_is_counted() -> None:
    a, b = StubModel("a", fail_after=1), StubModel("b")
    e = engine(a, b)
    items: list[object] = []
    with pytest.raises(ModelError, match="failed while generating"):
        async for item in e.stream(request("single", "a")):
            items.append(item)
    assert items == ["a"]  # the user saw a word: nobody else takes over, nothing is final
    assert b.calls == []
    assert e.health()[0].consecutive_failures == 1


class QueuedStub(StubModel):
    """A stub with one generation at a time and no room to wait."""

    @property
    def max_parallel(self) -> int:
        return 1

    @property
    def max_queue(self) -> int | None:
        return 0


async def test_a_full_queue_sends_the_reply_elsewhere_then_says_busy() -> None:
    release = asyncio.Event()

    async def hold(conversation: Conversation) -> None:
        await release.wait()

    a, b = QueuedStub("a", before=hold), QueuedStub("b", before=hold)
    e = engine(a, b)
    first = asyncio.create_task(e.reply(request("single", "a", channel="one")))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(e.reply(request("single", "a", channel="two")))
    await asyncio.sleep(0.01)
    with pytest.raises(BusyError) as busy:  # a and b each serve one, nobody may wait
        await e.reply(request("single", "a", channel="three"))
    assert str(busy.value) == BUSY_MESSAGE
    release.set()
    assert (await first).model_id == "a"
    assert (await second).model_id == "b" and (await second).failed_over_from == ()
    assert [h.state for h in e.health()] == ["healthy", "healthy"]  # busy is not a failure


async def test_check_health_probes_remote_models_now() -> None:
    a, b = StubModel("a"), StubModel("b", fail_after=0)
    health = {h.model_id: h for h in await engine(a, b).check_health()}
    assert health["a"].state == "healthy" and health["b"].state == "failing"
    assert health["b"].as_json()["consecutive_failures"] == 1


async def test_a_lone_members_own_error_reaches_the_user() -> None:
    e = engine(StubModel("only", fail_after=0))
    with pytest.raises(AllModelsDownError, match="model 'only' failed while generating: boom"):
        await e.reply(request())
