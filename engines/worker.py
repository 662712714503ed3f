"""Streaming from a blocking generator on a worker thread without blocking the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

R = TypeVar("R")
Emit = Callable[[str], None]


async def stream_from_worker(
    executor: Executor, produce: Callable[[Emit, threading.Event], R]
) -> AsyncIterator[str | R]:
    """Run `produce(emit, stop)` on `executor`; yield each emitted piece, then its result.

    If the consumer stops early, `stop` is set so `produce` can end, and the worker is
    awaited before returning, so the model is free for the next caller.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def work() -> None:
        try:
            put("done", produce(lambda piece: put("piece", piece), stop))
        except BaseException as exc:
            put("error", exc)

    future = loop.run_in_executor(executor, work)
    try:
        while True:
            kind, value = await queue.get()
            if kind == "error":
                raise value
            yield value
            if kind == "done":
                return
    finally:
        stop.set()
        await asyncio.shield(future)
