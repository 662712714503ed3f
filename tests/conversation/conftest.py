from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.storage import Store


@pytest.fixture
async def stores(database: Any) -> AsyncIterator[tuple[Store, Store]]:
    """Two processes' stores over one database."""
    one, other = database.store(), database.store()
    await one.open()
    await other.open()
    try:
        yield one, other
    finally:
        await one.close()
        await other.close()
