"""The card parser never crashes: any bytes or JSON give a card or a one-line CardError."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from persona import CardError, load_card, parse_card, write_card_png

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
card_like = st.fixed_dictionaries(
    {"spec": st.sampled_from(["chara_card_v2", "chara_card_v3"])},
    optional={"spec_version": json_values, "data": st.dictionaries(
        st.sampled_from(["name", "description", "tags", "alternate_greetings", "extensions",
                         "character_book", "first_mes", "other"]), json_values, max_size=6)},
)


def _check(call) -> None:
    try:
        card = call()
    except CardError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert card.name.strip()
        assert parse_card(card.to_v2()).to_v2() == card.to_v2()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(lambda: load_card(data)[0])


@settings(max_examples=300, deadline=None)
@given(json_values | card_like)
def test_arbitrary_json(obj: object) -> None:
    _check(lambda: load_card(json.dumps(obj).encode())[0])


@settings(max_examples=100, deadline=None)
@given(card_like)
def test_arbitrary_json_inside_a_png(obj: object) -> None:
    _check(lambda: load_card(write_card_png(json.dumps(obj)))[0])
