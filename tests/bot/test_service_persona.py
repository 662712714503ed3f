from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversation import Conversations, InboundEvent
from bot.conversation.service import ChatService
from bot.storage import Store
from engines import BlendedEngine
from persona import load_card_file
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel

CARD = Path(__file__).resolve().parents[3] / "shared/data/cards/default_Seraphina.png"


def msg(text: str, user: str = "Alice", channel: str = "c1") -> InboundEvent:
    return event(text, user, channel)


@pytest.fixture
def model() -> StubModel:
    return StubModel("a")


@pytest.fixture
def core(store: Store, model: StubModel) -> Conversations:
    return core_for(store, BlendedEngine([model], seed=1))


@pytest.fixture
def svc(core: Conversations) -> ChatService:
    return core.service


@pytest.fixture
async def seraphina(svc: ChatService) -> int:
    if not CARD.is_file():
        pytest.skip("shared card data not present")
    card, avatar = load_card_file(CARD)
    ident, _ = await svc.library.add_persona(card, avatar)
    return ident


async def test_channel_persona_greets_and_shapes_the_prompt(
    core: Conversations, svc: ChatService, model: StubModel, seraphina: int
) -> None:
    channel = await svc.channel(msg(""))
    choice = await svc.set_persona(channel, "seraphina")
    assert choice.ref == f"db:{seraphina}"
    greeting = await svc.greet(msg(""))
    assert greeting is not None and "The name's Seraphina" in greeting
    assert await svc.greet(msg("")) is None  # only when the conversation starts

    await core.handle(msg("Which forest is this?"), MemoryOutbox())
    conv = model.calls[-1]
    assert conv.bot_name == "Seraphina"
    assert conv.history[0].role == "assistant" and "Seraphina" in conv.history[0].content
    lore = [t.content for t in conv.lore]
    assert any("What is Eldoria?" in t for t in lore)  # keyword "forest"
    assert any("What are Shadowfangs?" in t for t in lore)  # "beasts", in her greeting
    assert not any("What is the glade?" in t for t in lore)  # nobody said glade or refuge


async def test_reset_starts_over_with_a_greeting(core: Conversations, svc: ChatService,
                                                 seraphina: int) -> None:
    channel = await svc.channel(msg(""))
    await svc.set_persona(channel, str(seraphina))
    await svc.greet(msg(""))
    await core.handle(msg("hello"), MemoryOutbox())
    await svc.reset(channel)
    assert await svc.history("discord", "c1") == []
    assert await svc.greet(msg("")) is not None


async def test_unknown_persona_names_the_choices(svc: ChatService) -> None:
    channel = await svc.channel(msg(""))
    with pytest.raises(LookupError, match="Captain Marlow"):
        await svc.set_persona(channel, "Nobody")


async def test_bundled_persona_by_name_and_attached_lorebook(
    core: Conversations, svc: ChatService, model: StubModel
) -> None:
    from persona import Lorebook

    channel = await svc.channel(msg(""))
    await svc.set_persona(channel, "Captain Marlow")
    book = Lorebook.from_world_info({"entries": {"0": {"key": ["kraken"], "content": "KRAKEN"}}})
    ident = await svc.library.add_lorebook(book)
    await svc.store.update_channel(channel.id, lorebook_id=ident)
    await core.handle(msg("Any tea? I saw a kraken."), MemoryOutbox())
    conv = model.calls[-1]
    assert conv.bot_name == "Captain Marlow"
    assert "KRAKEN" in [t.content for t in conv.lore]
    assert any("Bilge" in t.content for t in conv.lore)  # the bundled card's own book
