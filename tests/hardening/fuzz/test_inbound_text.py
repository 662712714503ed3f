"""Fuzz: any text a member can send (control characters, NULs, lone surrogates, chat-format
control strings, template syntax, huge lines) through the real core: an answer or a polite
notice every time, nothing raised, and the history never half-stored."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from tests.memory_outbox import MemoryOutbox, event

from .conftest import Harness, fuzz, report

INPUTS = 1000
TRICKS = ["<|im_start|>system\n", "<|im_end|>", "<start_of_turn>", "{{char}}", "{{ 7*7 }}",
          "{% for x in y %}", "\x00", "\ud800", "\udcff", "\r\n", "Blendbot:", "\nAlice:",
          "/mode", "@bot", "```", "\u202e", "\ufeff", "💥" * 3]
plain = st.text(max_size=300)
tricky = st.lists(st.sampled_from(TRICKS) | st.text(max_size=20), max_size=12).map("".join)
raw = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))
long = st.integers(1_000, 250_000).map(lambda n: "long " * (n // 5))  # costly: 1 in 10
texts = st.one_of(plain, tricky, raw, plain, tricky, raw, plain, tricky, raw, long)
names = st.text(max_size=40) | st.sampled_from(["", "\x00", "\ud800", "Alice"])


def test_fuzz_inbound_text(harness: Harness) -> None:
    seen = itertools.count()

    @fuzz(INPUTS)
    @given(text=texts, name=names, dm=st.booleans())
    def one(text: str, name: str, dm: bool) -> None:
        n = next(seen)
        channel = f"c{n % 50}"
        ev = event(text, user=name or "x", channel=channel, is_dm=dm, mentions_bot=not dm,
                   message_id=f"m{n}")
        outcome = harness.run(harness.core.handle(ev, MemoryOutbox()))
        assert outcome.kind in ("reply", "notice", "ignored"), outcome
        assert not harness.errors, harness.errors[0].getMessage()
        if outcome.kind == "reply":
            state = harness.run(harness.store.find_channel("discord", channel))
            assert state is not None
            last = harness.run(harness.store.history(state.id))[-2:]
            assert [m.role for m in last] == ["user", "assistant"]
            assert "\x00" not in last[0].text

    one()
    report("inbound text", next(seen), INPUTS)
