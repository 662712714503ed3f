from __future__ import annotations

import json
from pathlib import Path

import pytest

from persona import CardError, Lorebook, load_lorebook_file


def book(**kw) -> Lorebook:
    entries = kw.pop("entries")
    return Lorebook.model_validate({"entries": entries, **kw})


def contents(b: Lorebook, *messages: str) -> list[str]:
    return [t.content for t in b.scan(list(messages))]


def test_keys_match_word_starts_case_insensitively_by_default() -> None:
    b = book(entries=[{"keys": ["forest"], "content": "F"}, {"keys": ["Sea"], "content": "S",
                                                             "case_sensitive": True}])
    assert contents(b, "Tell me about the FOREST.") == ["F"]
    assert contents(b, "deforested hills") == []
    assert contents(b, "forests are deep") == ["F"]  # plurals still match
    assert contents(b, "the sea") == [] and contents(b, "the Sea!") == ["S"]


def test_constant_disabled_and_selective_entries() -> None:
    b = book(entries=[
        {"keys": [], "content": "always", "constant": True, "insertion_order": 5},
        {"keys": ["dragon"], "content": "off", "enabled": False},
        {"keys": ["dragon"], "content": "red dragon", "selective": True,
         "secondary_keys": ["red"], "insertion_order": 1},
    ])
    assert contents(b, "a dragon") == ["always"]
    assert sorted(contents(b, "a red dragon")) == ["always", "red dragon"]


def test_scan_depth_limits_the_messages_scanned() -> None:
    b = book(scan_depth=1, entries=[{"keys": ["castle"], "content": "C"}])
    assert contents(b, "the castle", "something else") == []
    assert contents(b, "something else", "the castle") == ["C"]


def test_priority_orders_importance() -> None:
    b = book(entries=[
        {"keys": ["x"], "content": "low", "priority": 1, "insertion_order": 0},
        {"keys": ["x"], "content": "high", "priority": 9, "insertion_order": 50},
    ])
    assert [(t.content, t.order) for t in b.scan(["x"])] == [("high", 50), ("low", 0)]


def test_world_info_file(tmp_path: Path) -> None:
    wi = {"entries": {
        "0": {"uid": 0, "key": ["moon"], "keysecondary": [], "content": "The moon is cheese.",
              "constant": False, "selective": False, "order": 100, "disable": False},
        "1": {"uid": 1, "key": ["sun"], "content": "Hot.", "disable": True},
    }}
    path = tmp_path / "Sky.json"
    path.write_text(json.dumps(wi))
    b = load_lorebook_file(path)
    assert b.name == "Sky" and len(b.entries) == 2
    assert contents(b, "the moon and the sun") == ["The moon is cheese."]


@pytest.mark.parametrize("text", ["[]", '{"entries": 3}', '{"entries": {"0": 5}}', "{"])
def test_bad_world_info(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(CardError):
        load_lorebook_file(path)
