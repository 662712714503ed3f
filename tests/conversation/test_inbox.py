"""The inbox of pushed updates over a real database: a dead worker's chat is taken over
when its lease lapses, updates run in update-id order, retries are recorded once, and two
processes never work one chat at the same time."""

from __future__ import annotations

import asyncio

from bot.conversation.inbox import UpdateInbox
from bot.storage import Store


async def until(check: object, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_dead_holders_chat_is_taken_over_in_order(store: Store) -> None:
    dead = UpdateInbox(store, lease_s=0.6)
    live = UpdateInbox(store, lease_s=0.6, sweep_s=0.05)
    for update_id in (3, 1, 2):  # recorded out of order, run in update-id order
        assert await dead.accept("telegram", update_id, "chat-1", f"u{update_id}")
    assert not await dead.accept("telegram", 2, "chat-1", "u2")  # a retry: recorded once
    assert await dead.inbox.claim("telegram", "chat-1", dead.owner, 0.6)  # then it dies
    seen: list[str] = []

    async def process(payload: str) -> None:
        seen.append(payload)

    started = asyncio.get_running_loop().time()
    async with live.serving("telegram", process):
        await until(lambda: len(seen) == 3)
        taken_after = asyncio.get_running_loop().time() - started
        await live.idle()
    assert seen == ["u1", "u2", "u3"]
    assert taken_after >= 0.5  # not before the dead holder's lease lapsed
    assert not await live.inbox.pending("telegram", "chat-1")


async def test_two_processes_never_work_one_chat_at_once(store: Store) -> None:
    a, b = UpdateInbox(store, sweep_s=0.05), UpdateInbox(store, sweep_s=0.05)
    busy: set[str] = set()
    overlaps: list[str] = []
    order: list[str] = []

    def processor(name: str):  # type: ignore[no-untyped-def]
        async def process(payload: str) -> None:
            chat = payload.split("/")[0]
            if chat in busy:
                overlaps.append(payload)
            busy.add(chat)
            await asyncio.sleep(0.01)
            order.append(payload)
            busy.discard(chat)
        return process

    async with a.serving("telegram", processor("a")), b.serving("telegram", processor("b")):
        for n in range(1, 31):  # alternately to each process, as a balancer sends them
            chat = f"chat-{n % 3}"
            await (a if n % 2 else b).accept("telegram", n, chat, f"{chat}/{n}")
        await until(lambda: len(order) == 30)
        await asyncio.gather(a.idle(), b.idle())
    assert not overlaps
    for chat in ("chat-0", "chat-1", "chat-2"):
        ids = [int(p.split("/")[1]) for p in order if p.startswith(chat + "/")]
        assert ids == sorted(ids)
