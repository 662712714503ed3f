"""Fuzz: analytics JSONL lines, valid ones mutated and raw garbage: an event or one short
`EventError` reason per line, never another exception, never a reason echoing a huge value."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from bot.analytics.events import Event, EventError, event_to_json, parse_line

from .conftest import fuzz, report

INPUTS = 3000
BASE = {"type": "message", "id": "m1", "ts": "2026-11-02T10:00:00Z", "platform": "discord",
        "community": "g", "channel": "c", "user": "u", "role": "user", "model": None,
        "text": "hi", "message": "m1", "kind": "up", "setting": "mode", "value": "single"}
hostile = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=30),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "\ud800",
                     "x" * 20_000, "feedback", "setting", "bot", "chaos", "2026-13-01T00:00Z",
                     "2026-11-02T10:00:00", "regenerate", "persona"]),
    st.recursive(st.integers(), lambda s: st.lists(s, max_size=2), max_leaves=4))


@st.composite
def lines(draw: st.DrawFn) -> str:
    obj = dict(BASE)
    for key in draw(st.lists(st.sampled_from(sorted(BASE)), max_size=4)):
        obj[key] = draw(hostile)
    text = json.dumps(obj)
    how = draw(st.integers(0, 4))
    if how == 1:  # a raw edit somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["[" * 5000, "7" * 5000, "\\ud800", '"', "}"]))\
            + text[at:]
    elif how == 2:
        text = draw(st.text(max_size=200))
    return text


def test_fuzz_analytics_lines() -> None:
    seen = itertools.count()

    @fuzz(INPUTS)
    @given(line=lines())
    def one(line: str) -> None:
        next(seen)
        try:
            event: Event = parse_line(line)
        except EventError as exc:
            assert len(str(exc)) < 200 and "\n" not in str(exc)
            return
        assert parse_line(event_to_json(event)) == event

    one()
    report("analytics lines", next(seen), INPUTS)
