"""Issue 8's acceptance path: a synthetic community imported through the CLI, then
`blendbot report` recovers what was put in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.analytics import format_events
from bot.analytics.synthetic import ModelBehaviour, SyntheticCommunity, generate
from tests.clirun import blendbot

MODELS = {
    "smollm2-135m": ModelBehaviour(weight=2, continuation=0.35, thumbs_up=0.05),
    "gemma3-270m": ModelBehaviour(weight=1, continuation=0.75, thumbs_up=0.25,
                                  thumbs_down=0.02),
}


def write(path: Path, spec: SyntheticCommunity) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.writelines(format_events(generate(spec)))


def test_import_then_report_recovers_zeta_and_continuation(tmp_path: Path) -> None:
    spec = SyntheticCommunity(users=2000, zeta=0.6, r1=0.5, seed=77, models=MODELS,
                              community="guild-42")
    events = tmp_path / "events.jsonl"
    write(events, spec)
    run = blendbot(tmp_path, "analytics", "import", str(events))
    assert run.returncode == 0, run.stderr
    assert "0 already present, 0 malformed" in run.stdout
    again = blendbot(tmp_path, "analytics", "import", str(events))  # idempotent
    assert "imported 0 events" in again.stdout

    png = tmp_path / "report.png"
    report = blendbot(tmp_path, "report", "guild-42", "--since", spec.since.isoformat(),
                      "--until", spec.until.isoformat(), "--json", "--png", str(png))
    assert report.returncode == 0, report.stderr
    out = json.loads(report.stdout.strip().splitlines()[-1])
    assert out["users"] == spec.users and out["insufficient_data"] is None
    assert out["zeta"] == pytest.approx(spec.zeta, abs=0.05)
    assert out["zeta_ci"][0] < out["zeta"] < out["zeta_ci"][1]
    assert set(out["retention"]) >= {"1", "7", "30"}
    for model, behaviour in MODELS.items():
        assert out["models"][model]["continuation_rate"] == pytest.approx(
            behaviour.continuation, abs=0.03)
        assert out["models"][model]["thumbs_up_rate"] == pytest.approx(
            behaviour.thumbs_up, abs=0.03)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

    text = blendbot(tmp_path, "report", "guild-42", "--until", spec.until.isoformat())
    assert text.returncode == 0 and "ζ" in text.stdout


def test_export_round_trips_what_was_imported(tmp_path: Path) -> None:
    spec = SyntheticCommunity(users=40, zeta=0.5, seed=3, community="tiny")
    events = tmp_path / "events.jsonl"
    write(events, spec)
    assert blendbot(tmp_path, "analytics", "import", str(events)).returncode == 0
    exported = blendbot(tmp_path, "analytics", "export", "--community", "tiny").stdout
    original = events.read_text().splitlines()
    assert sorted(exported.splitlines()) == sorted(original)


def test_malformed_lines_are_reported_and_the_rest_imported(tmp_path: Path) -> None:
    good = {"type": "message", "id": "m1", "ts": "2026-11-02T10:15:00Z",
            "platform": "discord", "community": "g", "channel": "c", "user": "u",
            "role": "user", "model": None, "text": "hi"}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "ts": "yesterday"}),
             json.dumps({**good, "id": "m2"})]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    run = blendbot(tmp_path, "analytics", "import", str(path))
    assert run.returncode == 0
    assert "imported 2 events" in run.stdout and "2 malformed lines skipped" in run.stdout
    assert f"{path}:2: skipped" in run.stderr and f"{path}:3: skipped" in run.stderr


def test_too_little_data_says_so_and_unknown_community_is_refused(tmp_path: Path) -> None:
    spec = SyntheticCommunity(users=5, zeta=0.5, seed=1, community="small")
    events = tmp_path / "e.jsonl"
    write(events, spec)
    blendbot(tmp_path, "analytics", "import", str(events))
    out = blendbot(tmp_path, "report", "small", "--until", spec.until.isoformat())
    assert out.returncode == 0 and "not enough data" in out.stdout
    bad = blendbot(tmp_path, "report", "nowhere")
    assert bad.returncode == 2 and "no community 'nowhere'" in bad.stderr
