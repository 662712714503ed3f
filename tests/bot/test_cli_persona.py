"""`blendbot persona …` as a user runs it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from persona.png import default_avatar, write_card_png
from tests.clirun import blendbot

CARD = Path(__file__).resolve().parents[3] / "shared/data/cards/default_Seraphina.png"


@pytest.fixture
def seraphina() -> Path:
    if not CARD.is_file():
        pytest.skip("shared card data not present")
    return CARD


def test_import_show_list_and_export_round_trip(tmp_path: Path, seraphina: Path) -> None:
    run = blendbot(tmp_path, "persona", "import", str(seraphina))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Imported Seraphina (id 1")
    shown = json.loads(blendbot(tmp_path, "persona", "show", "Seraphina", "--json").stdout)
    assert shown["name"] == "Seraphina" and shown["spec"] == "chara_card_v2"
    assert shown["first_mes"].startswith("*You wake with a start")
    assert shown["lorebook_entries"] == 4 and shown["alternate_greetings"] == []
    names = [p["name"] for p in json.loads(
        blendbot(tmp_path, "persona", "list", "--json").stdout)]
    assert "Seraphina" in names and "Blendbot" in names and len(names) >= 4

    for ext in ("json", "png"):
        out = tmp_path / f"sera.{ext}"
        assert blendbot(tmp_path, "persona", "export", "Seraphina", "--out", str(out)
                        ).returncode == 0
        other = tmp_path / f"other-{ext}"
        other.mkdir()
        assert blendbot(other, "persona", "import", str(out)).returncode == 0
        again = json.loads(blendbot(other, "persona", "show", "1", "--json").stdout)
        assert again == shown
    exported = json.loads((tmp_path / "sera.json").read_text())
    original = json.loads(base64.b64decode(
        seraphina.read_bytes().split(b"tEXtchara\x00")[1].split(b"\x00")[0][:-4]))
    assert exported["data"] == original["data"]  # every field, extensions included


def test_same_name_gets_a_new_id_unless_replace(tmp_path: Path) -> None:
    card = tmp_path / "a.json"
    card.write_text(json.dumps({"name": "Ava", "description": "one"}))
    assert "id 1" in blendbot(tmp_path, "persona", "import", str(card)).stdout
    card.write_text(json.dumps({"name": "Ava", "description": "two"}))
    assert "Imported Ava (id 2" in blendbot(tmp_path, "persona", "import", str(card)).stdout
    card.write_text(json.dumps({"name": "Ava", "description": "three"}))
    run = blendbot(tmp_path, "persona", "import", str(card), "--replace")
    assert run.stdout.startswith("Replaced Ava (id 2")
    assert json.loads(blendbot(tmp_path, "persona", "show", "#1", "--json").stdout)[
        "description"] == "one"
    assert json.loads(blendbot(tmp_path, "persona", "show", "Ava", "--json").stdout)[
        "description"] == "three"


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    files: dict[str, tuple[bytes, str]] = {
        "gif.png": (b"GIF89a" + b"\0" * 20, "expected a PNG or JSON"),
        "plain.png": (default_avatar("x"), "no character card"),
        "b64.png": (write_card_png("{}").replace(base64.b64encode(b"{}"), b"!!!!"), "base64"),
        "broken.json": (b'{"name": "A", ', "not valid JSON"),
        "noname.json": (b'{"spec": "chara_card_v2", "data": {"description": "d"}}', "'name'"),
        "huge.json": (json.dumps({"name": "H", "description": "x" * 1_100_000}).encode(),
                      "1 MB"),
        "missing.json": (b"", "no such file"),
    }
    out = {}
    for name, (data, message) in files.items():
        path = tmp / name
        if name != "missing.json":
            path.write_bytes(data)
        out[name] = (path, message)
    return out


def test_bad_files_exit_2_with_one_line_and_import_nothing(tmp_path: Path) -> None:
    before = blendbot(tmp_path, "persona", "list", "--json").stdout
    for name, (path, message) in _bad_files(tmp_path).items():
        run = blendbot(tmp_path, "persona", "import", str(path))
        assert run.returncode == 2, (name, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (name, run.stderr)
        assert "Traceback" not in run.stderr
    assert blendbot(tmp_path, "persona", "list", "--json").stdout == before


def test_unknown_persona_and_bad_export_target(tmp_path: Path) -> None:
    run = blendbot(tmp_path, "persona", "show", "Nobody")
    assert run.returncode == 2 and "no persona named 'Nobody' (choose from" in run.stderr
    run = blendbot(tmp_path, "persona", "export", "Juniper", "--out", str(tmp_path / "x.txt"))
    assert run.returncode == 2 and ".json or .png" in run.stderr
    run = blendbot(tmp_path, "chat", "--persona", "Nobody", stdin="hi\n")
    assert run.returncode == 2 and "no persona named 'Nobody'" in run.stderr


@pytest.mark.model
def test_chat_with_persona_opens_with_her_greeting(data_dir: Path, seraphina: Path) -> None:
    assert blendbot(data_dir, "persona", "import", str(seraphina)).returncode == 0
    run = blendbot(data_dir, "chat", "--persona", "Seraphina", "--channel", "glade",
                   "--show-model", "--max-tokens", "8", stdin="Where am I?\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[greeting] *You wake with a start")
    assert lines[1].startswith(("[smollm2-135m] ", "[gemma3-270m] "))
    history = json.loads(blendbot(data_dir, "history", "glade", "--json").stdout)
    assert [m["role"] for m in history] == ["assistant", "user", "assistant"]
    again = blendbot(data_dir, "chat", "--channel", "glade", "--max-tokens", "4", stdin="ok\n")
    assert len(again.stdout.splitlines()) == 1  # no second greeting: the channel has begun
