"""What a turn reads without a query (memory summary, pinned facts, persona, recent history)
stays in step with the writes: this process's show at once, another process's within the
cache's lifetime."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.storage import Store
from bot.storage.events import Events
from bot.storage.library import Library
from bot.storage.memory import Memories, Summary
from persona import CharacterCard, bundled_cards


async def _channel(store: Store) -> tuple[int, int]:
    ch = await store.ensure_channel("discord", "g1", "Guild", "c1", "general")
    user = await store.ensure_user("discord", "42", "Alice")
    return ch.id, user


async def test_facts_pinned_or_removed_here_show_at_once(store: Store) -> None:
    channel, alice = await _channel(store)
    memories = Memories(store)
    assert await memories.facts(channel, [alice]) == []  # now kept in the cache
    first = await memories.add_fact("the cat is called Miso", channel_id=channel,
                                    user_id=None, author_id=alice)
    await memories.add_fact("Alice likes green tea", channel_id=None, user_id=alice,
                            author_id=alice)
    assert [f.text for f in await memories.facts(channel, [alice])] == [
        "the cat is called Miso", "Alice likes green tea"]
    await memories.delete_fact(first)
    assert [f.text for f in await memories.facts(channel, [alice])] == ["Alice likes green tea"]


async def test_a_summary_shows_at_once_and_goes_with_the_messages_it_covers(
        store: Store) -> None:
    channel, alice = await _channel(store)
    ids = [await store.add_message(channel, "user", f"turn {i}", user_id=alice)
           for i in range(4)]
    memories = Memories(store)
    assert await memories.summary(channel) is None
    await memories.add_summary(channel, Summary("Alice counted to four.", ids[0], ids[-1], 4,
                                                "m"))
    summary = await memories.summary(channel)
    assert summary is not None and summary.text == "Alice counted to four."
    assert [m.user_id for m in await store.history(channel)] == [alice] * 4
    assert await Events(store).forget("discord", "42") == 4  # her messages are deleted
    assert await store.history(channel) == []  # not even from the cached history
    assert await memories.summary(channel) is None  # a summary of deleted messages is gone


async def test_another_process_writes_show_within_the_cache_lifetime(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'blendbot.db'}"
    here, there = Store(url), Store(url)
    await here.open()
    await there.open()
    try:
        here.cached.ttl_s = here.recent.ttl_s = 0.2
        channel, alice = await _channel(here)
        await here.history(channel)
        assert await Memories(here).facts(channel, [alice]) == []
        await Memories(there).add_fact("the meeting is on Friday", channel_id=channel,
                                       user_id=None, author_id=alice)
        await there.add_message(channel, "user", "written elsewhere", user_id=alice)
        assert await Memories(here).facts(channel, [alice]) == []  # cached for a moment
        await asyncio.sleep(0.3)
        assert [f.text for f in await Memories(here).facts(channel, [alice])] == [
            "the meeting is on Friday"]
        assert [m.text for m in await here.history(channel)] == ["written elsewhere"]
    finally:
        await here.close()
        await there.close()


async def test_a_persona_imported_again_is_used_at_once(store: Store) -> None:
    library = Library(store)
    base = next(iter(bundled_cards().values()))

    def card(description: str) -> CharacterCard:
        return base.model_copy(update={"data": base.data.model_copy(
            update={"name": "Miso", "description": description})})

    persona_id, _ = await library.add_persona(card("A cat."), None)
    found = await library.persona(str(persona_id))
    assert found is not None and found.card.data.description == "A cat."
    await library.add_persona(card("A cat who answers in purrs."), None, replace=True)
    again = await library.persona(str(persona_id))
    assert again is not None and again.card.data.description == "A cat who answers in purrs."

async def test_writes_at_once_from_many_turns_all_land(store: Store) -> None:
    """A burst of turns writing together: each waits its turn, none fails or is lost (the
    order of writes made at once is the database's: PostgreSQL's connections race)."""
    channels = [(await store.ensure_channel("discord", "g1", "Guild", f"c{i}", "x")).id
                for i in range(8)]
    ids = await asyncio.gather(*(store.add_message(c, "user", f"hello {n}")
                                 for c in channels for n in range(4)))
    assert len(set(ids)) == 32
    in_order = store.engine.dialect.name == "sqlite"  # one writer, in the order they came
    for c in channels:
        texts = [m.text for m in await store.history(c)]
        assert (texts if in_order else sorted(texts)) == [f"hello {n}" for n in range(4)]

