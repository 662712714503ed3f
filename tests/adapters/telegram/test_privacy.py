"""NSFW personas (an admin's opt-in per chat) and `/forget` through python-telegram-bot
against the loopback fake; leaving a group is noted for the grace period."""

from __future__ import annotations

import asyncio
import json
import time

from sqlalchemy import select

from bot.app import App
from bot.storage.tables import Community, Message, User
from persona import load_card
from tests.adapters.telegram.helpers import ALICE, BOB, DM, GROUP, nth_message, sent
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram

CARD = json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": {
    "name": "Vex", "description": "A sultry nightclub singer.", "first_mes": "Hello, darling.",
    "tags": ["nsfw"]}}).encode()


async def _import_card(app: App) -> None:
    card, avatar = load_card(CARD)
    await app.service.library.add_persona(card, avatar)


async def test_an_nsfw_card_only_where_an_admin_opted_in(app: App, fake: FakeTelegram) -> None:
    await _import_card(app)
    fake.set_member(GROUP, ALICE, "administrator")
    fake.say(GROUP, ALICE, "/persona Vex")
    refusal = (await nth_message(fake, GROUP, 1)).params["text"]
    assert "marked NSFW" in refusal and "/nsfw on" in refusal
    fake.say(GROUP, BOB, "/nsfw on")
    assert "Only admins" in (await nth_message(fake, GROUP, 2)).params["text"]
    fake.say(GROUP, ALICE, "/nsfw on")
    assert "may now be used" in (await nth_message(fake, GROUP, 3)).params["text"]
    fake.say(GROUP, ALICE, "/persona Vex")
    assert "now talks to Vex" in (await nth_message(fake, GROUP, 4)).params["text"]
    assert (await nth_message(fake, GROUP, 5)).params["text"] == "Hello, darling."
    fake.say(GROUP, BOB, f"@{BOT_USERNAME} sing for me")
    await nth_message(fake, GROUP, 6)  # Vex answers

    fake.say(GROUP, ALICE, "/nsfw off")  # withdrawn: the persona no longer answers here
    assert "no longer" in (await nth_message(fake, GROUP, 7)).params["text"]
    fake.say(GROUP, BOB, f"@{BOT_USERNAME} one more song")
    notice = (await nth_message(fake, GROUP, 8)).params["text"]
    assert "marked NSFW" in notice and "/persona set" in notice

    fake.say(DM, ALICE, "/persona Vex")  # another chat: its own opt-in
    assert "marked NSFW" in (await nth_message(fake, DM, 1)).params["text"]


async def test_forget_in_a_group_and_in_private(app: App, fake: FakeTelegram) -> None:
    fake.say(GROUP, BOB, f"@{BOT_USERNAME} Bob's secret plan")
    await nth_message(fake, GROUP, 1)
    fake.say(GROUP, ALICE, f"@{BOT_USERNAME} Alice's idea")
    await nth_message(fake, GROUP, 2)
    fake.say(GROUP, BOB, "/forget")
    ask = (await nth_message(fake, GROUP, 3)).params["text"]
    assert "in this community" in ask and "/forget confirm" in ask
    fake.say(GROUP, BOB, "/forget confirm")
    done = (await nth_message(fake, GROUP, 4)).params["text"]
    assert "1 messages, 1 replies to them" in done
    texts = await _texts(app)
    assert "Bob's secret plan" not in texts and "Alice's idea" in texts
    async with app.store.session() as s:
        assert await s.scalar(select(User.id).where(User.external_id == str(BOB.id))) is None

    fake.say(DM, ALICE, "Alice in private")
    await nth_message(fake, DM, 1)
    fake.say(DM, ALICE, "/forget confirm")  # not asked first
    assert "Send /forget first" in (await nth_message(fake, DM, 2)).params["text"]
    fake.say(DM, ALICE, "/forget")
    assert "on this platform" in (await nth_message(fake, DM, 3)).params["text"]
    fake.say(DM, ALICE, "/forget confirm")
    assert "private chats" in (await nth_message(fake, DM, 4)).params["text"]
    assert await _texts(app) == []  # Alice's group message and the reply to her went too
    assert len(sent(fake, GROUP)) == 4


async def test_removal_from_a_group_is_noted_and_undone_on_return(
        app: App, fake: FakeTelegram) -> None:
    fake.say(GROUP, ALICE, f"@{BOT_USERNAME} hello")
    await nth_message(fake, GROUP, 1)
    for old, new in (("member", "left"), ("left", "member")):
        fake.deliver({"my_chat_member": {
            "chat": GROUP.json(), "from": ALICE.json(), "date": int(time.time()),
            "old_chat_member": {"status": old, "user": fake.bot},
            "new_chat_member": {"status": new, "user": fake.bot}}})
        await _until_left(app, new == "left")


async def _texts(app: App) -> list[str]:
    async with app.store.session() as s:
        return list(await s.scalars(select(Message.text).order_by(Message.id)))


async def _until_left(app: App, left: bool) -> None:
    for _ in range(300):
        async with app.store.session() as s:
            at = await s.scalar(select(Community.left_at).where(
                Community.external_id == str(GROUP.id)))
        if (at is not None) == left:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"left_at never became {'set' if left else 'unset'}")
