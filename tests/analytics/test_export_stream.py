"""`analytics export` reads a page at a time and still gives every event, oldest first."""

from __future__ import annotations

import pytest

from bot.analytics.events import event_to_json
from bot.storage import Store
from bot.storage import events as events_module
from bot.storage.events import Events
from tests.analytics.test_rollup_writes import _history


async def test_pages_of_two_give_every_event_in_time_order(store: Store,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    history = _history()
    await Events(store).import_events(history)
    monkeypatch.setattr(events_module, "PAGE", 2)  # every table spans several pages
    out = [e async for e in Events(store).stream("g", "discord")]
    assert sorted(map(event_to_json, out)) == sorted(map(event_to_json, history))
    assert [e.ts for e in out] == sorted(e.ts for e in history)
