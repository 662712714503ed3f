"""The acceptance test of issue 8: a synthetic community with a known retention exponent and
known per-model continuation rates goes through JSONL and back, and the report recovers them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.analytics import format_events, parse_events
from bot.analytics.synthetic import ModelBehaviour, SyntheticCommunity, generate
from bot.storage import Store
from bot.storage.events import Events
from bot.storage.rollup_read import rollup_report
from tests.conftest import POSTGRES_URL

TWO_MODELS = {
    "shy": ModelBehaviour(weight=3, continuation=0.3, thumbs_up=0.02),
    "chatty": ModelBehaviour(weight=1, continuation=0.8, thumbs_up=0.3, thumbs_down=0.01),
}


SPECS = [
    SyntheticCommunity(users=2000, zeta=0.3, r1=0.45, seed=101),
    SyntheticCommunity(users=2000, zeta=0.55, seed=202),
    SyntheticCommunity(users=2000, zeta=0.85, r1=0.6, seed=303, models=TWO_MODELS),
]
POSTGRES = pytest.param(SPECS[2], "postgres", id="postgres-zeta=0.85", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="BLENDBOT_TEST_POSTGRES_URL not set"))


# every community on SQLite; on PostgreSQL (the same rollup SQL, slower) the two-model one
@pytest.mark.parametrize(
    ("spec", "database"),
    [*(pytest.param(spec, "sqlite", id=f"sqlite-zeta={spec.zeta}") for spec in SPECS),
     POSTGRES],
    indirect=["database"],
)
async def test_report_recovers_the_known_exponent_and_continuation_rates(
    spec: SyntheticCommunity, tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "events.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.writelines(format_events(generate(spec)))
    with path.open(encoding="utf-8") as f:
        events, errors = parse_events(f)
    assert errors == []

    await Events(store).import_events(events)  # the report is read from the rollups
    report = await rollup_report(store, spec.platform, spec.community, spec.since, spec.until)
    out = json.loads(report.to_json())

    assert out["users"] == out["new_users"] == spec.users
    assert out["insufficient_data"] is None
    assert out["zeta"] == pytest.approx(spec.zeta, abs=0.05)
    lo, hi = out["zeta_ci"]
    assert lo < out["zeta"] < hi and hi - lo < 0.1
    assert out["retention"]["1"] == pytest.approx(spec.r1, abs=0.05)
    assert out["retention"]["30"] == pytest.approx(spec.retention(30), abs=0.03)

    total_weight = sum(b.weight for b in spec.models.values())
    assert set(out["models"]) == set(spec.models)
    for model, behaviour in spec.models.items():
        got = out["models"][model]
        assert got["continuation_rate"] == pytest.approx(behaviour.continuation, abs=0.03)
        assert got["share"] == pytest.approx(behaviour.weight / total_weight, abs=0.03)
        assert got["thumbs_up_rate"] == pytest.approx(behaviour.thumbs_up, abs=0.03)
