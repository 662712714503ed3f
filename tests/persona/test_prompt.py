from __future__ import annotations

import random
from pathlib import Path

from engines import ChatMessage
from persona import build_conversation, load_card_file, parse_card, pick_greeting
from persona.prompt import GLOBAL_SYSTEM_PROMPT

CARD = parse_card({
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Mira",
        "description": "{{char}} keeps the lighthouse. <USER> is a visitor.",
        "personality": "calm",
        "scenario": "{{user}} knocks at night.",
        "first_mes": "Welcome, {{user}}.",
        "alternate_greetings": ["Evening, <USER>.", "Come in, {{user}}."],
        "mes_example": "<START>\n{{user}}: hi\n{{char}}: hello\n<START>\n{{user}}: bye",
        "creator_notes": "CREATOR-NOTES-SECRET",
        "tags": ["TAG-SECRET"],
        "creator": "CREATOR-SECRET",
        "system_prompt": "Rules first. {{original}}",
        "post_history_instructions": "Stay brief, {{char}}.",
        "character_book": {"entries": [
            {"keys": ["lamp"], "content": "The lamp of {{char}} is old.", "insertion_order": 2},
            {"keys": [], "content": "Storms are common.", "constant": True, "insertion_order": 1},
        ]},
    },
})
HISTORY = [ChatMessage("user", "hello", "Alice"), ChatMessage("assistant", "hi"),
           ChatMessage("user", "is the lamp lit? {{char}}", "Bob")]


def test_card_fields_reach_the_prompt_with_macros_filled() -> None:
    conv = build_conversation(CARD, HISTORY)
    text = conv.system_text()
    assert text.startswith("Rules first. " + GLOBAL_SYSTEM_PROMPT.replace("{{char}}", "Mira"))
    assert "Mira keeps the lighthouse. Bob is a visitor." in text  # {{user}} = last speaker
    assert "Mira's personality: calm" in text and "Scenario: Bob knocks at night." in text
    assert conv.post_history == "Stay brief, Mira." and conv.bot_name == "Mira"
    assert conv.examples == ("Example conversation:\nBob: hi\nMira: hello",
                             "Example conversation:\nBob: bye")
    for secret in ("CREATOR-NOTES-SECRET", "TAG-SECRET", "CREATOR-SECRET"):
        assert secret not in text
    # user text is never templated
    assert conv.history[-1].content == "is the lamp lit? {{char}}"


def test_lorebook_keyword_and_constant_entries() -> None:
    lore = build_conversation(CARD, HISTORY).lore
    assert [t.content for t in lore] == ["Storms are common.", "The lamp of Mira is old."]
    quiet = build_conversation(CARD, [ChatMessage("user", "hello", "Alice")]).lore
    assert [t.content for t in quiet] == ["Storms are common."]


def test_empty_system_prompt_uses_the_global_one() -> None:
    plain = parse_card({"name": "P", "description": "d"})
    assert build_conversation(plain, HISTORY, "GLOBAL {{char}}").system.startswith("GLOBAL P")


def test_greetings_are_drawn_from_first_and_alternates() -> None:
    rng = random.Random(3)
    seen = {pick_greeting(CARD, "Zoe", rng) for _ in range(60)}
    assert seen == {"Welcome, Zoe.", "Evening, Zoe.", "Come in, Zoe."}
    assert pick_greeting(parse_card({"name": "Mute"}), "Zoe", rng) is None


def test_seraphina_lorebook_entry_follows_a_keyword(seraphina_png: Path) -> None:
    card, _ = load_card_file(seraphina_png)
    conv = build_conversation(card, [ChatMessage("user", "What are the Shadowfangs?", "Ann")])
    assert any("What are Shadowfangs?" in t.content for t in conv.lore)
    assert all("What is Eldoria?" not in t.content for t in conv.lore)
