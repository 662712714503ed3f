"""Fuzz: every typed command with any arguments, by an admin and by a member: one line
back each time (never the catch-all apology), and the channel's settings stay readable."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from bot.conversation.menu import MENU
from tests.memory_outbox import MemoryOutbox, event

from .conftest import Harness, fuzz, report

INPUTS = 2500
WORDS = ["on", "off", "single", "uniform", "weighted", "best_of_n", "fuse", "learned", "a",
         "b", "a=2,b=1", "a=inf", "a=-1", "a=nan", "b=0", "=", ",", "now", "here",
         "schedule", "mon", "25", "-1", "Europe/Paris", "Mars/Olympus", "Seraphina", "0",
         "9" * 400, "\x00", "\ud800", "list", "set", "", "confirm", "Vex"]
words = st.lists(st.sampled_from(WORDS) | st.text(max_size=30), max_size=5)
names = st.sampled_from([name for name, _ in MENU]) | st.text(max_size=12)


def test_fuzz_commands(harness: Harness) -> None:
    seen = itertools.count()

    async def admin() -> bool:
        return True

    async def member() -> bool:
        return False

    @fuzz(INPUTS)
    @given(name=names, args=words, is_admin=st.booleans(), channel=st.integers(0, 20))
    def one(name: str, args: list[str], is_admin: bool, channel: int) -> None:
        next(seen)
        outbox = MemoryOutbox()
        ev = event(f"/{name} {' '.join(args)}", channel=f"c{channel}")
        result = harness.run(harness.core.text_command(
            ev, [name, *args], outbox, admin if is_admin else member))
        assert not harness.errors, harness.errors[0].getMessage()
        if result is not None:
            assert result.text.strip() and outbox.texts()
        state = harness.run(harness.core.service.channel(ev))  # still readable
        assert state.external_id == f"c{channel}"

    one()
    report("commands", next(seen), INPUTS)
