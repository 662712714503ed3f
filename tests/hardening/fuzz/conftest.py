"""Shared pieces of the fuzz harness: one event loop and one SQLite store per target (a
fresh store per input would spend the time on migrations), a core over stub models, and a
log watch: an error logged by the core's catch-alls is a crash it caught, and fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from bot.conversation import Conversations
from bot.storage import Store
from tests.memory_outbox import core_for
from tests.stubs import StubModel

T = TypeVar("T")

_BASE = settings(deadline=None, database=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))


def fuzz(inputs: int) -> settings:
    """Hypothesis settings for one target: `inputs` examples, the same ones every run."""
    return settings(_BASE, max_examples=inputs)


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    store: Store
    core: Conversations
    errors: list[logging.LogRecord] = field(default_factory=list)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)


class _Errors(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
    loop.run_until_complete(store.open())
    core = core_for(store, [StubModel("a"), StubModel("b")], rate_limit=10**9)
    found = Harness(loop, store, core)
    handler = _Errors(found.errors)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield found
    finally:
        root.removeHandler(handler)
        loop.run_until_complete(store.close())
        loop.close()


def report(target: str, count: int, floor: int) -> None:
    print(f"fuzz {target}: {count} inputs")
    assert count >= floor, f"fuzz {target}: only {count} inputs ran (want {floor})"
