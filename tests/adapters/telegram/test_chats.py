"""Who the bot answers on Telegram, where conversations live, and what it sends."""

from __future__ import annotations

import asyncio

from bot.app import App
from bot.storage.candidates import candidates_of
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram
from tests.stubs import StubModel

from .conftest import Starter
from .helpers import ALICE, BOB, DM, FORUM, GROUP, buttons, nth_message, sent


async def test_a_reply_slow_to_start_shows_typing_first(start_bot: Starter,
                                                        fake: FakeTelegram) -> None:
    async def think(_: object) -> None:
        await asyncio.sleep(0.9)

    await start_bot([StubModel("slow", before=think)])
    fake.say(DM, ALICE, "Hello there")
    call = await nth_message(fake, DM, 1)
    [typing] = fake.of("sendChatAction")
    assert typing.params["action"] == "typing" and fake.calls.index(typing) < fake.calls.index(call)


async def test_private_chat_is_answered_in_plain_text_with_feedback_buttons(
        app: App, fake: FakeTelegram) -> None:
    fake.say(DM, ALICE, "Hello there")
    call = await nth_message(fake, DM, 1)
    assert call.params["text"] in {"smollm2-135m reply 1", "gemma3-270m reply 1"}
    assert "parse_mode" not in call.params  # model output cannot inject HTML/Markdown
    assert "reply_parameters" not in call.params  # no quoting in a private chat
    assert buttons(call) == ["fb:up", "fb:down", "fb:regen"]
    assert not fake.of("sendChatAction")  # shown at once: no "typing…" to flash
    history = await app.service.history("telegram", str(DM.id))
    assert [(m.role, m.text) for m in history] == [("user", "Hello there"),
                                                  ("assistant", call.params["text"])]
    assert history[0].author == "Alice"
    names = {c["command"] for c in fake.of("setMyCommands")[0].params["commands"]}
    assert {"start", "help", "mode", "models", "weights", "status", "chat", "disclose",
            "persona", "reset", "stats", "report", "remember", "memories",
            "forget_memory", "forget", "nsfw", "access", "quota", "usage",
            "moderation", "experiment"} == names


async def test_group_answers_mentions_and_replies_only(app: App, fake: FakeTelegram) -> None:
    fake.say(GROUP, ALICE, "just chatting among ourselves")
    asked = fake.say(GROUP, BOB, f"@{BOT_USERNAME} what do you think?")
    first = await nth_message(fake, GROUP, 1)
    assert first.params["reply_parameters"]["message_id"] == asked  # quotes who asked
    history = await app.service.history("telegram", str(GROUP.id))
    assert [m.text for m in history if m.role == "user"] == ["what do you think?"]
    assert history[0].author == "Bob"

    fake.say(GROUP, ALICE, "and you?", reply_to=fake.last_id(GROUP))
    await nth_message(fake, GROUP, 2)
    fake.say(GROUP, ALICE, "@someoneelse hi")
    await fake.settle()
    assert len(sent(fake, GROUP)) == 2
    history = await app.service.history("telegram", str(GROUP.id))
    assert [m.text for m in history if m.role == "user"] == ["what do you think?", "and you?"]


async def test_chat_on_by_an_admin_answers_everything(app: App, fake: FakeTelegram) -> None:
    fake.say(GROUP, BOB, "/chat on")
    refused = await nth_message(fake, GROUP, 1)
    assert "Only admins" in refused.params["text"]
    fake.say(GROUP, BOB, "anyone here?")
    await fake.settle()
    assert len(sent(fake, GROUP)) == 1

    fake.set_member(GROUP, ALICE, "administrator")
    fake.say(GROUP, ALICE, f"/chat@{BOT_USERNAME} on")
    done = await nth_message(fake, GROUP, 2)
    assert done.params["text"] == "I'll answer every message in this channel."
    fake.say(GROUP, BOB, "anyone here now?")
    answer = await nth_message(fake, GROUP, 3)
    assert answer.params["text"].endswith("reply 1")
    assert [c.params["user_id"] for c in fake.of("getChatMember")] == [BOB.id, ALICE.id]


async def test_mode_by_admin_changes_status_and_member_is_refused(
        app: App, fake: FakeTelegram) -> None:
    fake.say(GROUP, BOB, "/mode single")
    assert "Only admins" in (await nth_message(fake, GROUP, 1)).params["text"]
    fake.say(GROUP, BOB, "/status")
    assert "Mode: uniform" in (await nth_message(fake, GROUP, 2)).params["text"]
    fake.set_member(GROUP, ALICE, "creator")
    fake.say(GROUP, ALICE, "/mode single gemma3-270m")
    done = (await nth_message(fake, GROUP, 3)).params["text"]
    assert done == "Blend mode is now single (gemma3-270m)."
    fake.say(GROUP, BOB, "/status")
    assert "Mode: single (gemma3-270m)" in (await nth_message(fake, GROUP, 4)).params["text"]
    fake.say(GROUP, ALICE, "/mode")
    assert "Usage: /mode" in (await nth_message(fake, GROUP, 5)).params["text"]
    assert len(fake.of("getChatMember")) == 2  # one per person: cached


async def test_forum_topics_keep_separate_histories(app: App, fake: FakeTelegram) -> None:
    fake.say(FORUM, ALICE, f"@{BOT_USERNAME} topic ten", thread=10)
    ten = await nth_message(fake, FORUM, 1)
    fake.say(FORUM, ALICE, f"@{BOT_USERNAME} topic twenty", thread=20)
    twenty = await nth_message(fake, FORUM, 2)
    assert ten.params["message_thread_id"] == 10 and twenty.params["message_thread_id"] == 20
    fake.say(FORUM, BOB, "not addressed, although Telegram marks it a reply", thread=10)
    await fake.settle()
    assert len(sent(fake, FORUM)) == 2
    a = await app.service.history("telegram", f"{FORUM.id}:10")
    b = await app.service.history("telegram", f"{FORUM.id}:20")
    assert [m.text for m in a if m.role == "user"] == ["topic ten"]
    assert [m.text for m in b if m.role == "user"] == ["topic twenty"]
    assert await app.service.history("telegram", str(FORUM.id)) == []


async def test_disclose_footer_and_commands(app: App, fake: FakeTelegram) -> None:
    fake.say(DM, ALICE, "/start")
    hello = (await nth_message(fake, DM, 1)).params["text"]
    assert "Blendbot" in hello
    fake.say(DM, ALICE, "/disclose on")  # in a private chat the user is the admin
    assert "name the model" in (await nth_message(fake, DM, 2)).params["text"]
    fake.say(DM, ALICE, "Who wrote this?")
    reply = (await nth_message(fake, DM, 3)).params["text"]
    assert reply.endswith(("\n\n— smollm2-135m", "\n\n— gemma3-270m"))
    fake.say(DM, ALICE, "/persona")
    assert "▶ Blendbot" in (await nth_message(fake, DM, 4)).params["text"]
    fake.say(DM, ALICE, "/persona Juniper")
    assert "now talks to Juniper" in (await nth_message(fake, DM, 5)).params["text"]
    fake.say(DM, ALICE, "/reset")
    assert "afresh" in (await nth_message(fake, DM, 6)).params["text"]
    greeting = (await nth_message(fake, DM, 7)).params["text"]  # Juniper's greeting
    assert greeting and not buttons(sent(fake, DM)[6])
    for command in ("/help", "/models", "/stats", "/weights smollm2-135m=2, gemma3-270m=1"):
        fake.say(DM, ALICE, command)
    texts = [c.params["text"] for c in await _all(fake, 11)]
    assert "/persona" in texts[7] and "smollm2-135m" in texts[8]
    assert "This channel:" in texts[9] and "weighted" in texts[10]


async def _all(fake: FakeTelegram, n: int) -> list:
    await nth_message(fake, DM, n)
    return sent(fake, DM)


async def test_fuse_mode_by_an_admin_answers_with_one_reply_and_keeps_the_candidates(
        app: App, fake: FakeTelegram) -> None:
    fake.say(DM, ALICE, "/mode fuse")  # the owner of a private chat is its admin
    assert (await nth_message(fake, DM, 1)).params["text"] == "Blend mode is now fuse."
    fake.say(DM, ALICE, "Tell me something nice")
    answer = (await nth_message(fake, DM, 2)).params["text"]
    [_, bot] = await app.service.history("telegram", str(DM.id))
    assert bot.mode == "fuse" and answer == bot.text
    stored = await candidates_of(app.store, bot.id)
    assert sorted(c.model_id for c in stored) == ["gemma3-270m", "smollm2-135m"]
    assert sorted(c.rank for c in stored) == [1, 2]
    assert answer.endswith(" reply 2")  # the fuser's second call (its first was a candidate)
    assert answer not in {c.text for c in stored}


async def test_remember_and_memories_in_a_group(app: App, fake: FakeTelegram) -> None:
    fake.say(GROUP, BOB, "/remember I take my tea without sugar")  # not an admin: Bob's own
    first = await nth_message(fake, GROUP, 1)
    assert first.params["text"] == "I'll remember that (for you)."
    fake.say(GROUP, BOB, f"@{BOT_USERNAME} how do I take my tea?")
    await nth_message(fake, GROUP, 2)
    await fake.settle()
    prompts = [c for m in app.engine.models.values() for c in getattr(m, "calls", [])]
    assert prompts[-1].facts == ("I take my tea without sugar",)
    fake.say(GROUP, BOB, "/memories")
    listed = await nth_message(fake, GROUP, 3)
    assert "1. I take my tea without sugar (yours)" in listed.params["text"]
    fake.say(GROUP, BOB, "/forget_memory 1")
    gone = await nth_message(fake, GROUP, 4)
    assert gone.params["text"] == 'Forgotten: "I take my tea without sugar".'
