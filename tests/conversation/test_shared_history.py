"""Two processes answering one channel (Telegram webhook workers take a chat's updates in
turns): each turn is written from the whole conversation, whichever process stored it."""

from __future__ import annotations

from bot.storage import Store
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel


async def test_a_turn_sees_what_another_process_just_stored_in_its_channel(
        stores: tuple[Store, Store]) -> None:
    one_model, other_model = StubModel("a"), StubModel("a")
    one, other = core_for(stores[0], [one_model]), core_for(stores[1], [other_model])
    assert (await one.handle(event("hello", message_id="1"), MemoryOutbox())).kind == "reply"
    said = await other.handle(event("my name is Bob", message_id="2"), MemoryOutbox())
    assert said.kind == "reply"
    # within the processes' cache lifetime (5 s): the first one kept the channel's history
    assert (await one.handle(event("what is my name?", message_id="3"),
                             MemoryOutbox())).kind == "reply"
    seen = [m.content for m in one_model.calls[-1].history]
    assert any("my name is Bob" in text for text in seen)
    assert any(said.text in text for text in seen)  # the other process's reply too
    assert "what is my name?" in seen[-1]
