"""Fuzz: character cards (JSON of any shape, V1 and V2, broken PNGs): a card or one
`CardError`; a card that loads renders a prompt and is stored and read back whole."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from bot.storage.library import Library
from persona.card import CharacterCard
from persona.errors import CardError
from persona.loader import load_card
from persona.png import PNG_SIGNATURE
from persona.prompt import build_conversation

from .conftest import Harness, fuzz, report

INPUTS = 2000
FIELDS = ["name", "description", "personality", "scenario", "first_mes", "mes_example",
          "system_prompt", "alternate_greetings", "tags", "character_book", "extensions",
          "creator_notes", "post_history_instructions"]
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    | st.sampled_from(["{{char}}", "{{user}}", "{{ 7*7 }}", "<|im_start|>", "\x00", "\ud800"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["entries", "keys", "content", "name", "x"]) | st.text(max_size=8),
        inner, max_size=3),
    max_leaves=12)
data = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)
cards = st.one_of(
    data.map(lambda d: {"spec": "chara_card_v2", "spec_version": "2.0", "data": d}),
    data,  # V1: the fields at the top
    values.map(lambda v: {"spec": "chara_card_v2", "data": v}),
)


def _bytes(obj: object, how: int) -> bytes:
    text = json.dumps(obj)
    return (text.encode() if how == 0 else text.encode()[: len(text) // 2] if how == 1
            else PNG_SIGNATURE + text.encode()[:50])


def test_fuzz_character_cards(harness: Harness) -> None:
    seen, stored = itertools.count(), itertools.count()
    library = Library(harness.store)

    @fuzz(INPUTS)
    @given(obj=cards, how=st.sampled_from([0, 0, 0, 1, 2]))
    def one(obj: object, how: int) -> None:
        next(seen)
        try:
            card, _ = load_card(_bytes(obj, how))
        except CardError as exc:
            assert "\n" not in str(exc)
            return
        assert isinstance(card, CharacterCard)
        build_conversation(card, [])
        if next(stored) % 5 == 0:  # the store is the slow part: every fifth card
            ident, _ = harness.run(library.add_persona(card, None))
            back = harness.run(library.persona(str(ident)))
            assert back is not None and back.name.replace("\x00", "") == back.name

    one()
    report("character cards", next(seen), INPUTS)
