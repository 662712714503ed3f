"""NSFW personas and `/forget` through the real discord.py client against the loopback fake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.storage.tables import Community, Message, User
from persona import load_card
from tests.adapters.discord.conftest import Running, make_app, start_bot, until
from tests.fakes.discord_api import FakeDiscord, snowflake
from tests.stubs import StubModel

CARD = json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": {
    "name": "Vex", "description": "A sultry nightclub singer.", "first_mes": "Hello, darling.",
    "tags": ["romance", "NSFW"]}}).encode()


@pytest.fixture
async def nsfw_running(tmp_path: Path, fake: FakeDiscord) -> AsyncIterator[Running]:
    """The fake guild with a second, age-restricted channel; an NSFW card imported."""
    lounge = snowflake()
    fake.extra_channels.append(lounge)
    fake.nsfw_channels.add(lounge)
    app = await make_app(tmp_path, [StubModel("smollm2-135m"), StubModel("gemma3-270m")])
    card, avatar = load_card(CARD)
    await app.service.library.add_persona(card, avatar)
    run = await start_bot(app, fake)
    await asyncio.wait_for(run.bot.wait_until_ready(), 20)
    yield run
    await run.bot.close()
    await asyncio.wait_for(run.task, 10)
    await app.close()


async def followup(fake: FakeDiscord, n: int) -> dict:
    await until(lambda: len(fake.followups()) >= n)
    return fake.followups()[n - 1].body


async def test_an_nsfw_card_only_in_age_restricted_channels(nsfw_running: Running,
                                                           fake: FakeDiscord) -> None:
    lounge = fake.extra_channels[0]
    await fake.slash("persona", "set", uid=fake.admin_id, name="Vex")
    refusal = await followup(fake, 1)
    assert "marked NSFW" in refusal["content"] and "age-restricted" in refusal["content"]
    assert refusal["flags"] & 64  # shown to the admin only
    general = await nsfw_running.app.store.find_channel("discord", fake.channel_id)
    assert general is not None and general.persona is None  # unchanged

    await fake.slash("persona", "set", uid=fake.admin_id, channel_id=lounge, name="Vex")
    assert "now talks to Vex" in (await followup(fake, 2))["content"]
    await until(lambda: any(m["content"] == "Hello, darling."
                            for m in fake.bot_messages(lounge)))  # the card's greeting
    await fake.user_says("sing for me", mention=True, channel_id=lounge)
    await until(lambda: len(fake.bot_messages(lounge)) >= 2)

    # the channel loses its age-restricted flag: the persona no longer answers there
    fake.nsfw_channels.discard(lounge)
    channel = next(c for c in fake.guild()["channels"] if c["id"] == lounge)
    await fake.dispatch("CHANNEL_UPDATE", {**channel, "guild_id": fake.guild_id})
    await asyncio.sleep(0.2)
    await fake.user_says("one more song", mention=True, channel_id=lounge)
    await until(lambda: len(fake.bot_messages(lounge)) >= 3)
    notice = fake.bot_messages(lounge)[-1]["content"]
    assert "marked NSFW" in notice and "/persona set" in notice


async def test_forget_asks_then_deletes_the_members_data(nsfw_running: Running,
                                                         fake: FakeDiscord) -> None:
    app = nsfw_running.app
    await fake.user_says("Bob's private thoughts", mention=True)
    await until(lambda: len(fake.bot_messages(fake.channel_id)) >= 1)
    await fake.user_says("Alice's words", uid=fake.admin_id, mention=True)
    await until(lambda: len(fake.bot_messages(fake.channel_id)) >= 2)

    await fake.slash("forget", uid=fake.member_id, confirm="confirm")  # not asked yet
    assert "Send /forget first" in (await followup(fake, 1))["content"]
    await fake.slash("forget", uid=fake.member_id)
    ask = await followup(fake, 2)
    assert "cannot be undone" in ask["content"] and ask["flags"] & 64
    assert len(await _texts(app)) == 4  # nothing deleted yet
    await fake.slash("forget", uid=fake.member_id, confirm="confirm")
    done = await followup(fake, 3)
    assert "1 messages, 1 replies to them" in done["content"]

    texts = await _texts(app)
    assert "Bob's private thoughts" not in texts and "Alice's words" in texts
    assert len(texts) == 2  # Alice's message and the reply to her
    async with app.store.session() as s:
        assert await s.scalar(select(User.id).where(User.external_id == fake.member_id)) is None

    # removed from the server: noted for the grace period; back: nothing is to be deleted
    await fake.dispatch("GUILD_DELETE", {"id": fake.guild_id})
    await until(lambda: nsfw_running.bot.get_guild(int(fake.guild_id)) is None)
    await _until_left(app, True)
    await fake.dispatch("GUILD_CREATE", fake.guild())
    await _until_left(app, False)


async def _texts(app) -> list[str]:
    async with app.store.session() as s:
        return list(await s.scalars(select(Message.text).order_by(Message.id)))


async def _until_left(app, left: bool) -> None:
    for _ in range(200):
        async with app.store.session() as s:
            at = await s.scalar(select(Community.left_at).where(Community.platform == "discord",
                                                                Community.name == "Test Guild"))
        if (at is not None) == left:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"left_at never became {'set' if left else 'unset'}")
