from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from bot.storage import Store


async def test_schema_is_made_by_migrations(store: Store) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.storage.schema import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    async with store.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert version == head
    assert {"communities", "channels", "users", "messages", "personas", "lorebooks"} <= tables


async def test_reset_hides_earlier_turns_but_keeps_them(store: Store) -> None:
    ch = await store.ensure_channel("console", "console", "console", "demo", "demo")
    await store.add_message(ch.id, "user", "before")
    await store.reset_channel(ch.id)
    await store.add_message(ch.id, "user", "after")
    assert [m.text for m in await store.history(ch.id)] == ["after"]
    assert [m.text for m in await store.history(ch.id, since_reset=False)] == ["before", "after"]


async def test_channels_and_users_are_created_once(store: Store) -> None:
    a = await store.ensure_channel("discord", "g1", "Guild", "c1", "general")
    b = await store.ensure_channel("discord", "g1", "Guild", "c1", "general")
    other = await store.ensure_channel("telegram", "g1", "Group", "c1", "chat")
    assert a.id == b.id != other.id
    u1 = await store.ensure_user("discord", "42", "Alice")
    u2 = await store.ensure_user("discord", "42", "Alice B.")  # renamed
    assert u1 == u2
    await store.add_message(a.id, "user", "hello", user_id=u1)
    [msg] = await store.history(a.id)
    assert msg.author == "Alice B."


async def test_history_is_ordered_and_limited(store: Store) -> None:
    ch = await store.ensure_channel("console", "console", "console", "demo", "demo")
    for i in range(5):
        await store.add_message(ch.id, "user", f"m{i}")
        await store.add_message(ch.id, "assistant", f"r{i}", model_id="m", latency_ms=5,
                                prompt_tokens=3, completion_tokens=2)
    everything = await store.history(ch.id)
    assert [m.text for m in everything][:3] == ["m0", "r0", "m1"]
    newest = await store.history(ch.id, limit=3)
    assert [m.text for m in newest] == ["r3", "m4", "r4"]
    assert newest[-1].model_id == "m" and newest[-1].created_at.tzinfo is not None


async def test_channel_settings_persist_across_reopen(store: Store, database) -> None:
    ch = await store.ensure_channel("console", "console", "console", "demo", "demo")
    await store.update_channel(ch.id, mode="weighted", weights={"a": 2.0, "b": 1.0})
    await store.add_message(ch.id, "user", "kept")
    await store.close()
    again = database.store()
    await again.open()  # migrations are a no-op the second time
    try:
        found = await again.find_channel("console", "demo")
        assert found is not None
        assert found.mode == "weighted" and found.weights == {"a": 2.0, "b": 1.0}
        assert [m.text for m in await again.history(found.id)] == ["kept"]
    finally:
        await again.close()


async def test_postgresql_plans_each_lookup_for_the_tables_size_now(store: Store) -> None:
    """An import's IN-list lookups start on an empty table and go on as it grows: a cached
    generic plan from the start would scan the grown table in full on every lookup."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("SHOW plan_cache_mode"))).scalar() == \
            "force_custom_plan"
        assert (await conn.execute(text("SHOW search_path"))).scalar() != "public"  # kept
