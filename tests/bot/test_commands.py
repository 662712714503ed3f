from __future__ import annotations

import json

import pytest

from bot.conversation import Commands, Conversations, InboundEvent
from bot.conversation.commands import ADMIN_ONLY
from bot.conversation.service import ChatService
from bot.storage import Store
from engines import BlendedEngine
from tests.memory_outbox import MemoryOutbox, core_for, regenerate
from tests.stubs import StubModel


def where(channel: str = "c1", user: str = "Alice", *, is_admin: bool = False,
          platform: str = "discord", text: str = "") -> InboundEvent:
    return InboundEvent(platform, "g1" if platform == "discord" else "g", channel,
                        user.lower() if platform == "discord" else str(len(user)), user,
                        text, is_admin=is_admin, is_dm=True)


ADMIN = where(is_admin=True)
MEMBER = where(user="Bob")


@pytest.fixture
def core(store: Store) -> Conversations:
    engine = BlendedEngine([StubModel("smollm2-135m"), StubModel("gemma3-270m")], seed=1)
    return core_for(store, engine, rate_limit=3, rate_window_s=60)


@pytest.fixture
def svc(core: Conversations) -> ChatService:
    return core.service


@pytest.fixture
def cmds(core: Conversations) -> Commands:
    return core.commands


async def test_mode_change_is_admin_only_and_shows_in_status(cmds: Commands) -> None:
    refused = await cmds.blend_mode(MEMBER, "single")
    assert not refused.ok and refused.text == ADMIN_ONLY
    assert "Mode: uniform" in (await cmds.blend_status(MEMBER)).text
    done = await cmds.blend_mode(ADMIN, "single")
    assert done.ok and "single (smollm2-135m)" in done.text
    assert "Mode: single (smollm2-135m)" in (await cmds.blend_status(MEMBER)).text
    await cmds.blend_mode(ADMIN, "single", "gemma3-270m")
    assert "Mode: single (gemma3-270m)" in (await cmds.blend_status(ADMIN)).text


@pytest.mark.parametrize(("mode", "model", "says"), [
    ("best_of_n", None, "is not available here"),  # no ranker in this engine
    ("turbo", None, "unknown mode 'turbo' (choose from single, uniform, weighted"),
    ("single", "gpt-5", "unknown model 'gpt-5'"),
])
async def test_bad_modes_are_refused_and_change_nothing(cmds: Commands, mode: str,
                                                        model: str | None, says: str) -> None:
    result = await cmds.blend_mode(ADMIN, mode, model)
    assert not result.ok and says in result.text
    assert "Mode: uniform" in (await cmds.blend_status(ADMIN)).text


async def test_weights(cmds: Commands) -> None:
    assert not (await cmds.blend_weights(MEMBER, "smollm2-135m=2")).ok
    bad = await cmds.blend_weights(ADMIN, "smollm2-135m=two")
    assert not bad.ok and "MODEL=NUMBER" in bad.text
    ok = await cmds.blend_weights(ADMIN, "smollm2-135m=2,gemma3-270m=1")
    assert ok.ok and "weighted" in ok.text
    status = (await cmds.blend_status(ADMIN)).text
    assert "Mode: weighted" in status and "smollm2-135m=2, gemma3-270m=1" in status


async def test_channel_and_disclose_flags(cmds: Commands, svc: ChatService) -> None:
    assert not (await cmds.blend_channel(MEMBER, "on")).ok
    assert not (await cmds.blend_channel(ADMIN, "maybe")).ok
    assert (await cmds.blend_channel(ADMIN, "on")).ok
    assert (await cmds.blend_disclose(ADMIN, "on")).ok
    channel = await svc.channel(where())
    assert channel.answer_all and channel.disclose
    status = (await cmds.blend_status(MEMBER)).text
    assert "Answers: every message" in status and "Disclose model: on" in status


async def test_persona_commands(cmds: Commands) -> None:
    listed = (await cmds.persona_list(MEMBER)).text
    assert "▶ Blendbot" in listed and "Juniper" in listed
    assert not (await cmds.persona_set(MEMBER, "Juniper")).ok
    result = await cmds.persona_set(ADMIN, "juniper")
    assert result.ok and result.greeting and "Juniper" in (await cmds.blend_status(ADMIN)).text
    card = json.dumps({"name": "Nova", "first_mes": "Hello from Nova"}).encode()
    assert not (await cmds.persona_import(MEMBER, card)).ok
    assert not (await cmds.persona_import(ADMIN, b"not a card", "x.txt")).ok
    imported = await cmds.persona_import(ADMIN, card, "nova.json")
    assert imported.ok and "Nova" in imported.text
    assert "Nova (#1)" in (await cmds.persona_list(MEMBER)).text


async def test_reset_and_stats(cmds: Commands, core: Conversations, svc: ChatService) -> None:
    await core.handle(where("c1", "Alice", text="hi"), MemoryOutbox())
    await core.handle(where("c2", "Bob", text="yo"), MemoryOutbox())
    stats = (await cmds.stats(MEMBER)).text
    assert "This channel: 2 messages (1 from 1 users, 1 replies)" in stats
    assert "This community: 4 messages (2 from 2 users, 2 replies)" in stats
    assert not (await cmds.reset(MEMBER)).ok
    assert (await cmds.reset(ADMIN)).ok
    assert await svc.history("discord", "c1") == []
    assert "This channel: 2 messages" in (await cmds.stats(MEMBER)).text  # analytics keep it


async def test_rate_limit_is_polite_and_per_user(core: Conversations, svc: ChatService
                                                 ) -> None:
    alice = where("c", "Alice", platform="telegram", text="hi")
    kinds = [(await core.handle(alice, MemoryOutbox())).kind for _ in range(4)]
    assert kinds == ["reply", "reply", "reply", "notice"]
    limited = await core.handle(alice, MemoryOutbox())
    assert "Slow down a little, Alice: at most 3 messages every 60 s" in limited.text
    bob = where("c", "Bob", platform="telegram", text="hi")
    assert (await core.handle(bob, MemoryOutbox())).kind == "reply"
    assert len([m for m in await svc.history("telegram", "c") if m.role == "user"]) == 4


async def test_feedback_and_regenerate(core: Conversations, svc: ChatService) -> None:
    msg = where(text="hi")
    outbox = MemoryOutbox()
    first = await core.handle(msg, outbox)
    assert first.message_id is not None
    [shown] = outbox.shown
    assert await core.feedback(msg, shown, "up") == "Thanks for the 👍"
    assert await core.feedback(msg, shown, "up", toggle=True) == "Took back your 👍"
    assert await core.feedback(msg, shown, "up") == "Thanks for the 👍"
    assert await core.feedback(msg, "not-a-reply", "up") is None
    again = await regenerate(core, msg, first.message_id, outbox)
    assert again.kind == "reply" and again.message_id != first.message_id
    assert outbox.texts() == [again.text] and outbox.notes == ["🔄 Writing another reply…"]
    history = await svc.history("discord", "c1")
    assert [m.id for m in history] == [history[0].id, again.message_id]  # old one replaced
    rows = await svc.replies.feedback(first.message_id)
    assert sorted(k for _, k, _ in rows) == ["regenerate", "up"]
    assert {m for _, _, m in rows} == {first.model_id}  # tied to the model that wrote it
    await core.handle(where(text="more"), outbox)
    stale = await core.regenerate(msg, shown, outbox)  # it shows an older reply now
    assert stale.kind == "notice" and "latest reply" in stale.text


async def test_mode_and_persona_changes_become_report_events(cmds: Commands,
                                                             svc: ChatService) -> None:
    await cmds.blend_mode(ADMIN, "single")
    await cmds.blend_mode(ADMIN, "single")  # no change: no second event
    await cmds.persona_set(ADMIN, "Juniper")
    events = await svc.events.export("g1", "discord")
    settings = [(e.setting, e.value, e.user) for e in events if hasattr(e, "setting")]
    assert settings == [("mode", "single", "alice"), ("persona", "Juniper", "alice")]
