"""What a turn writes, and when: the user's message before the model runs, the reply with the
preview that shows it before the final text is shown, each in one transaction; once the
reply shows, its message is settled (with the others shown meanwhile)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event

from bot.conversation import Conversations
from bot.storage import Store
from engines import BlendedEngine
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel


@dataclass
class CheckingOutbox(MemoryOutbox):
    """Notes, at each edit, which stored reply a press on the edited message would reach."""

    core: Conversations | None = None
    reached: list[int | None] = field(default_factory=list)

    async def edit(self, message_id: str, text: str, *, controls: bool) -> None:
        assert self.core is not None
        ref = await self.core.service.replies.find("discord", message_id)
        self.reached.append(ref.message_id if ref else None)
        await super().edit(message_id, text, controls=controls)


def commits(store: Store) -> list[int]:
    """Commits of transactions that wrote (reads commit too, where they run in autocommit)."""
    seen: list[int] = []
    wrote: set[int] = set()

    def statement(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            wrote.add(id(conn))

    def count(conn: Any) -> None:
        if id(conn) in wrote:
            wrote.discard(id(conn))
            seen.append(1)

    sa_event.listen(store.engine.sync_engine, "before_cursor_execute", statement)
    sa_event.listen(store.engine.sync_engine, "commit", count)
    return seen


async def test_a_streamed_turn_commits_three_times_and_its_preview_leads_to_the_stored_reply(
        store: Store) -> None:
    c = core_for(store, BlendedEngine([StubModel("a", delay=0.06)], seed=1))
    await c.handle(event("hi", message_id="p0"), MemoryOutbox())  # the channel and user exist
    await c.owed.flush()
    outbox = CheckingOutbox(core=c)
    done = commits(store)
    reply = await c.handle(event("hello", message_id="p1"), outbox)
    assert reply.kind == "reply" and outbox.calls[0][0] == "send"  # a preview first
    # the user's message; where its preview shows (a turn taking over a killed one edits it);
    # the reply with the preview showing it
    assert len(done) == 3
    await c.owed.flush()  # then, within 0.1 s, the settling of the message it answers
    assert len(done) == 4
    # when the final text replaces the preview, a 🔄 or 👍 on it already reaches the reply
    assert outbox.reached and outbox.reached[-1] == reply.message_id
    [preview] = outbox.shown
    assert await c.service.replies.deliveries(reply.message_id or 0) == [preview]
    assert outbox.shown[preview] == reply.text


async def test_a_redelivered_message_is_ignored_and_does_not_use_up_the_limit(
        store: Store) -> None:
    c = core_for(store, BlendedEngine([StubModel("a")], seed=1), rate_limit=2,
                 rate_limit_exempt=())
    first = event("one", message_id="p1")
    assert (await c.handle(first, MemoryOutbox())).kind == "reply"
    again = await c.handle(first, outbox := MemoryOutbox())
    assert (again.kind, again.reason, outbox.calls) == ("ignored", "redelivered", [])
    assert (await c.handle(event("two", message_id="p2"), MemoryOutbox())).kind == "reply"
    limited = await c.handle(event("three", message_id="p3"), MemoryOutbox())
    assert limited.kind == "notice" and "Slow down" in limited.text
    late = await c.handle(first, outbox := MemoryOutbox())  # at the limit: still no notice
    assert (late.kind, late.reason, outbox.calls) == ("ignored", "redelivered", [])
    users = [m.text for m in await c.service.history("discord", "c1") if m.role == "user"]
    assert users == ["one", "two"]


async def test_a_channel_read_again_shows_another_process_changes_and_new_names(
        database: Any) -> None:
    one, other = database.store(), database.store()
    await one.open()
    await other.open()
    try:
        one.CACHE_TTL_S = 0.0  # type: ignore[misc]  # every turn reads the channel again
        channel = await one.ensure_channel("discord", "g1", "Guild", "c1", "general")
        await other.update_channel(channel.id, mode="single", model_id="a")
        again = await one.ensure_channel("discord", "g1", "Guild", "c1", "general")
        assert (again.id, again.mode, again.model_id) == (channel.id, "single", "a")
        renamed = await one.ensure_channel("discord", "g1", "Guild", "c1", "random")
        assert (renamed.id, renamed.name, renamed.mode) == (channel.id, "random", "single")
        seen = await other.ensure_channel("discord", "g1", "Guild", "c1", "random")
        assert seen.name == "random"
    finally:
        await one.close()
        await other.close()
