from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from persona import CardError, load_card, load_card_file, parse_card, write_card_png
from persona.png import default_avatar, read_card_text

V2 = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Mira",
        "description": "{{char}} is a lighthouse keeper.",
        "personality": "calm",
        "scenario": "a stormy night",
        "first_mes": "Welcome, {{user}}.",
        "mes_example": "<START>\n{{user}}: hi\n{{char}}: hello",
        "creator_notes": "notes for humans",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": ["Evening."],
        "tags": ["sea"],
        "creator": "someone",
        "character_version": "1.2",
        "extensions": {"depth_prompt": {"depth": 4, "prompt": "x"}, "fav": True},
        "character_book": {
            "name": "Lamp",
            "scan_depth": 2,
            "token_budget": 100,
            "recursive_scanning": False,
            "extensions": {"weird": 1},
            "entries": [{"keys": ["lamp"], "content": "The lamp is old.", "enabled": True,
                         "insertion_order": 1, "extensions": {"position": 0}, "id": 7}],
        },
        "x_unknown_field": {"kept": [1, 2, 3]},
    },
    "top_level_extra": "kept too",
}


def test_v2_json_and_png_round_trip_keep_every_field(tmp_path: Path) -> None:
    card = parse_card(V2)
    again, _ = load_card(card.to_v2_json().encode())
    assert again.to_v2() == card.to_v2() == V2 | {"data": V2["data"]}
    png = write_card_png(card.to_v2_json())
    (tmp_path / "mira.png").write_bytes(png)
    from_png, image = load_card_file(tmp_path / "mira.png")
    assert from_png.to_v2() == V2 and image == png


def test_png_export_keeps_the_avatar_and_replaces_the_old_card(seraphina_png: Path) -> None:
    card, image = load_card_file(seraphina_png)
    renamed = card.model_copy(update={"data": card.data.model_copy(update={"name": "Sera"})})
    png = write_card_png(renamed.to_v2_json(), image)
    assert png.count(b"tEXtchara") == 1
    again, _ = load_card(png)
    assert again.name == "Sera" and again.data.description == card.data.description
    assert again.to_v2()["data"]["character_book"] == card.to_v2()["data"]["character_book"]


def test_real_seraphina_card(seraphina_png: Path) -> None:
    card, _ = load_card_file(seraphina_png)
    assert (card.spec, card.name) == ("chara_card_v2", "Seraphina")
    assert card.data.first_mes.startswith("*You wake with a start")
    book = card.lorebook()
    assert book is not None and len(book.entries) == 4
    assert card.top_level["talkativeness"] == "0.5"  # V1 mirror fields survive


def test_v1_flat_card_and_pygmalion_aliases() -> None:
    v1 = parse_card({"name": "Old", "description": "d", "first_mes": "hi", "mes_example": ""})
    assert (v1.spec, v1.data.first_mes) == ("chara_card_v1", "hi")
    pyg = parse_card({"char_name": "Pyg", "char_persona": "kind", "char_greeting": "yo"})
    assert (pyg.name, pyg.data.personality, pyg.data.first_mes) == ("Pyg", "kind", "yo")


def test_v3_card_from_ccv3_chunk_keeps_v3_fields() -> None:
    v3 = {"spec": "chara_card_v3", "spec_version": "3.0",
          "data": {**V2["data"], "nickname": "M", "group_only_greetings": ["all"],
                   "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}]}}
    png = default_avatar("x")
    # a V3 tool writes both chunks; ccv3 wins
    v2_chunk = write_card_png(json.dumps({**V2, "data": {**V2["data"], "name": "Old"}}), png)
    payload = base64.b64encode(json.dumps(v3).encode())
    import struct
    import zlib
    body = b"ccv3\0" + payload
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(
        ">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    both = v2_chunk[:-12] + chunk + v2_chunk[-12:]
    card, _ = load_card(both)
    assert card.spec == "chara_card_v3" and card.name == "Mira"
    exported = card.to_v2()
    assert exported["spec"] == "chara_card_v2" and exported["data"]["nickname"] == "M"
    assert parse_card(exported).to_v2() == exported


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"GIF89a...", "expected a PNG or JSON"),
        (default_avatar("no card"), "no character card"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x05tEXtchara\x00!!!!\x00\x00\x00\x00", "truncated"),
        (b'{"spec": "chara_card_v2", "data": {"name": "A"', "not valid JSON"),
        (b'{"spec": "chara_card_v2", "data": {"description": "no name"}}', "'name'"),
        (b'{"spec": "chara_card_v2", "data": {"name": "A", "tags": "x"}}', "'tags'"),
        (b'{"spec": "chara_card_v9", "data": {"name": "A"}}', "unsupported card spec"),
        (b'{"entries": {"0": {"key": ["a"], "content": "b"}}}', "World Info"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"name": "Big", "description": "x" * 1_100_000}).encode(), "1 MB"),
    ],
)
def test_bad_cards_are_one_line_errors(content: bytes, message: str) -> None:
    with pytest.raises(CardError, match=message) as err:
        load_card(content)
    assert "\n" not in str(err.value)


def test_png_with_corrupt_base64_is_an_error() -> None:
    png = write_card_png(json.dumps(V2))
    broken = png.replace(base64.b64encode(json.dumps(V2).encode())[:8], b"!@#$%^&*")
    with pytest.raises(CardError, match="base64"):
        read_card_text(broken)
