"""Case 6: a stray byte or a NUL in what a member types cannot kill a session or a
database: invalid UTF-8 is replaced, NULs are dropped, the rest of the input is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.storage import Store
from bot.storage.library import Library
from persona.card import parse_card
from tests.clirun import blendbot
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel


@pytest.mark.model
def test_invalid_utf8_on_stdin_is_replaced_and_the_rest_is_answered(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    env["BLENDBOT_DATA_DIR"] = str(data_dir)
    run = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--mode", "single", "--model", "smollm2-135m",
         "--max-tokens", "4", "--channel", "bytes"],
        input=b"hello\n\xff\xfe caf\xc3 here\nnul\x00 inside\nstill here?\n",
        capture_output=True, env=env, cwd=data_dir, timeout=300, check=False)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    assert b"Traceback" not in run.stderr
    assert len(run.stdout.splitlines()) == 4
    assert b"Sorry" not in run.stdout
    history = json.loads(blendbot(data_dir, "history", "bytes", "--json").stdout)
    said = [m["text"] for m in history if m["role"] == "user"]
    assert said == ["hello", "\ufffd\ufffd caf\ufffd here", "nul inside", "still here?"]
    assert len([m for m in history if m["role"] == "assistant"]) == 4


async def test_nul_and_lone_surrogates_are_stored_cleaned(store: Store) -> None:
    """On SQLite and on PostgreSQL (which refuses NUL in text outright)."""
    core = core_for(store, [StubModel("a")])
    outbox = MemoryOutbox()
    hostile = event("hi\x00 there \ud800!", user="Ev\x00e\udcff", channel="c\x00h",
                    community_name="G\x00uild", channel_name="gen\x00eral")
    outcome = await core.handle(hostile, outbox)
    assert outcome.kind == "reply", outcome
    after = await core.handle(event("and now?", user="Eve", channel="c\x00h"), outbox)
    assert after.kind == "reply"
    channel = await store.find_channel("discord", "ch")
    assert channel is not None and channel.name == "general"
    said = [(m.author, m.text) for m in await store.history(channel.id) if m.role == "user"]
    assert said == [("Eve\ufffd", "hi there \ufffd!"), ("Eve", "and now?")]


async def test_a_card_with_nul_and_surrogates_is_stored_cleaned(store: Store) -> None:
    card = parse_card({"spec": "chara_card_v2", "spec_version": "2.0", "data": {
        "name": "Nul\x00la", "description": "a\x00b \ud800", "first_mes": "hi\x00",
        "extensions": {"note": ["x\x00y"]}}})
    library = Library(store)
    persona_id, _ = await library.add_persona(card, None)
    stored = await library.persona(str(persona_id))
    assert stored is not None
    assert stored.name == "Nulla"
    assert stored.card.data.description == "ab \ufffd" and stored.card.data.first_mes == "hi"
    assert stored.card.data.extensions["note"] == ["xy"]
