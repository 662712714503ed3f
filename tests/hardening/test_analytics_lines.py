"""Case 7: `blendbot analytics import` refuses bad lines one by one (number and a short
reason, never the bad value itself) and imports every other line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clirun import blendbot

WHERE = {"platform": "discord", "community": "g1", "channel": "c1"}


def _line(**fields: object) -> str:
    return json.dumps({"ts": "2026-11-02T10:00:00Z", **WHERE, **fields})


def _message(ident: str, role: str = "user", **fields: object) -> str:
    values = {"type": "message", "id": ident, "user": "u1", "role": role,
              "model": "smollm2-135m" if role == "bot" else None, "text": "hi", **fields}
    return _line(**values)


BIG = "x" * 100_000
LINES = [
    _message("m1"),                                                        # 1 good
    _message("m2", role="bot"),                                            # 2 good
    _message("m3", ts="0001-01-01T00:30:00+01:00"),                        # 3 year 1
    _message("m4", ts="9999-12-31T23:30:00-01:00"),                        # 4 year 9999
    _message("m5").replace('"hi"', '"\\ud800"'),                           # 5 lone surrogate
    _message("m6").replace('"text"', '"n": ' + "7" * 5000 + ', "text"'),   # 6 5,000 digits
    _message("m7").replace('"text"', '"deep": ' + "[" * 100_000 + "]" * 100_000
                           + ', "text"'),                                  # 7 deep nesting
    _line(type="feedback", user="u2", message="nope", kind="up"),          # 8 no such message
    _line(type="setting", user="admin", setting="mode", value="chaos"),    # 9 unknown mode
    _message("m10", community=BIG),                                        # 10 a 100 KB id
    _line(type="feedback", user="u2", message="m2", kind="up"),            # 11 good
    _line(type="setting", user="admin", setting="mode", value="single"),   # 12 good
]


def test_bad_lines_are_reported_one_by_one_and_the_rest_imported(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    run = blendbot(tmp_path, "analytics", "import", str(path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert run.stdout.strip() == "imported 4 events, 0 already present, 8 malformed lines skipped"
    reported = run.stderr.strip().splitlines()
    assert [line.split(":")[1] for line in reported] == ["3", "4", "5", "6", "7", "8", "9",
                                                         "10"], reported
    assert all(len(line) < 200 + len(str(path)) for line in reported), reported
    assert "already present" not in reported[5] and "message" in reported[5]
    assert "chaos" in reported[6] and "mode" in reported[6]
    exported = [json.loads(line) for line in
                blendbot(tmp_path, "analytics", "export").stdout.splitlines()]
    assert [(e["type"], e.get("id"), e.get("value")) for e in exported] == [
        ("message", "m1", None), ("message", "m2", None), ("feedback", None, None),
        ("setting", None, "single")]
    again = blendbot(tmp_path, "analytics", "import", str(path))
    assert again.stdout.strip() == ("imported 0 events, 4 already present, "
                                    "8 malformed lines skipped")


def test_a_bad_byte_spoils_only_its_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([_message("m1").encode(),
                                 _message("m2").encode().replace(b'"hi"', b'"h\xffi"'),
                                 _message("m3").encode()]) + b"\n")
    run = blendbot(tmp_path, "analytics", "import", str(path))
    assert run.returncode == 0 and "Traceback" not in run.stderr
    assert run.stdout.strip() == "imported 2 events, 0 already present, 1 malformed lines skipped"
    assert run.stderr.startswith(f"{path}:2: skipped: text: not valid UTF-8")
