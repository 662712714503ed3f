"""The 👍 / 👎 / 🔄 keyboard under each reply."""

from __future__ import annotations

from bot.app import App
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram

from .helpers import ALICE, BOB, DM, GROUP, buttons, delivered, nth_message


async def answered(fake: FakeTelegram, n: int) -> str:
    """The text the bot answered the `n`-th button press with."""
    calls = await fake.wait_for(lambda: len(fake.of("answerCallbackQuery")) >= n
                                and fake.of("answerCallbackQuery"))
    return str(calls[n - 1].params.get("text", ""))


async def test_ratings_are_stored_with_the_model(app: App, fake: FakeTelegram) -> None:
    fake.say(GROUP, ALICE, f"@{BOT_USERNAME} rate me")
    call = await nth_message(fake, GROUP, 1)
    shown = fake.last_id(GROUP)
    ref = await delivered(app, GROUP, shown)
    assert ref.model_id == call.params["text"].split()[0]

    fake.press(GROUP, ALICE, shown, "fb:up")
    assert "Thanks" in await answered(fake, 1)
    fake.press(GROUP, BOB, shown, "fb:down")
    await answered(fake, 2)
    rows = await app.service.replies.feedback(ref.message_id)
    assert sorted(kind for _, kind, _ in rows) == ["down", "up"]
    assert {model for _, _, model in rows} == {ref.model_id}

    fake.press(GROUP, ALICE, shown, "fb:up")  # pressed again: taken back
    assert "Took back" in await answered(fake, 3)
    rows = await app.service.replies.feedback(ref.message_id)
    assert [kind for _, kind, _ in rows] == ["down"]


async def test_regenerate_replaces_the_reply_in_place(app: App, fake: FakeTelegram) -> None:
    fake.say(DM, ALICE, "First")
    await nth_message(fake, DM, 1)
    shown = fake.last_id(DM)
    old = await delivered(app, DM, shown)

    fake.press(DM, ALICE, shown, "fb:regen")
    edit = await fake.wait_for(lambda: fake.of("editMessageText"))
    assert edit[0].params["message_id"] == shown and buttons(edit[0])
    assert "parse_mode" not in edit[0].params
    new = await app.service.replies.find("telegram", f"{DM.id}:{shown}")
    assert new is not None and new.message_id != old.message_id and new.latest
    history = await app.service.history("telegram", str(DM.id))
    assert [m.id for m in history][-1] == new.message_id and len(history) == 2
    assert fake.texts(DM) == [history[-1].text]
    rows = await app.service.replies.feedback(old.message_id)
    assert [(kind, model) for _, kind, model in rows] == [("regenerate", old.model_id)]

    fake.press(DM, ALICE, shown, "fb:regen")  # again, on the same Telegram message
    await fake.wait_for(lambda: len(fake.of("editMessageText")) >= 2)
    assert len(await app.service.history("telegram", str(DM.id))) == 2

    fake.say(DM, ALICE, "Second")
    await nth_message(fake, DM, 2)
    await delivered(app, DM, fake.last_id(DM))
    fake.press(DM, ALICE, shown, "fb:regen")  # no longer the latest reply
    assert "Only the latest reply" in await answered(fake, 3)
    assert len(fake.of("editMessageText")) == 2
