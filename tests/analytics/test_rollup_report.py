"""Reports from the rollup tables equal the in-memory reports on synthetic communities."""

from __future__ import annotations

from typing import Any

import pytest

from bot.analytics import build_report
from bot.analytics.synthetic import SyntheticCommunity, generate
from bot.storage import Store
from bot.storage.events import Events
from bot.storage.rollup_read import rollup_report

SPECS = [
    SyntheticCommunity(users=400, zeta=0.5, seed=11),
    SyntheticCommunity(users=600, zeta=0.4, seed=12, modes={"uniform": 0.6, "fuse": 0.3}),
]


def _close(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, abs=2e-4), path
    else:
        assert a == b, path


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"modes={bool(s.modes)}")
async def test_rollup_report_matches_the_in_memory_report(store: Store,
                                                          spec: SyntheticCommunity) -> None:
    events = generate(spec)
    await Events(store).import_events(events)
    old = build_report(events, spec.community, spec.since, spec.until).to_dict()
    new = (await rollup_report(store, spec.platform, spec.community, spec.since,
                               spec.until)).to_dict()
    _close(old, new)
