"""How replies reach Telegram: splitting, throttled streaming, flood control, failures."""

from __future__ import annotations

import itertools

import pytest

from bot.adapters.telegram.outbox import LIMIT
from bot.app import App
from tests.fakes.telegram_api import BOT_USERNAME, Call, FakeTelegram
from tests.stubs import ScriptedModel, StubModel

from .conftest import Starter
from .helpers import ALICE, DM, GROUP, buttons, nth_message, sent

LONG = " ".join(f"word{i:04d}" for i in range(1000))  # 8,999 characters


async def test_long_reply_is_split_at_4096(start_bot: Starter, fake: FakeTelegram) -> None:
    app = await start_bot([ScriptedModel("long", LONG)])
    fake.say(DM, ALICE, "Tell me everything")
    await nth_message(fake, DM, 3)
    await fake.settle()
    parts = fake.texts(DM)  # as they read now (the first may have shown a preview first)
    assert len(parts) == 3 and all(len(p) <= LIMIT for p in parts)
    assert " ".join(parts) == LONG
    assert [bool(buttons(c)) for c in sent(fake, DM)] == [False, False, True]
    history = await app.service.history("telegram", str(DM.id))
    assert len(await app.service.replies.deliveries(history[-1].id)) == 3


async def test_streaming_edits_are_throttled(start_bot: Starter, fake: FakeTelegram) -> None:
    text = " ".join(f"w{i}" for i in range(36))
    await start_bot([ScriptedModel("slow", text, delay=0.1)])  # ~3.6 s of writing
    fake.say(DM, ALICE, "Take your time")
    await fake.wait_for(lambda: any(buttons(c) for c in fake.of("editMessageText")), 20)
    pushes = sent(fake, DM) + fake.of("editMessageText")
    assert len(sent(fake, DM)) == 1 and 3 <= len(pushes) <= 6  # ~1 per second, not per word
    times = sorted(c.at for c in pushes)
    assert all(b - a >= 0.8 for a, b in itertools.pairwise(times))
    assert sent(fake, DM)[0].params["text"].endswith(" …")  # a preview, still writing
    assert fake.texts(DM) == [text]

    fake.say(GROUP, ALICE, f"@{BOT_USERNAME} and here?")  # groups: slower
    await fake.wait_for(lambda: any(buttons(c) for c in in_group(fake)), 20)
    assert len(in_group(fake)) <= 3 and fake.texts(GROUP) == [text]


def in_group(fake: FakeTelegram) -> list[Call]:
    return [c for c in fake.of("sendMessage") + fake.of("editMessageText")
            if c.params["chat_id"] == GROUP.id]


FLOOD_WARNING = pytest.mark.filterwarnings(  # PTB's own, from RetryAfter.__init__
    "ignore::telegram.warnings.PTBDeprecationWarning")


@FLOOD_WARNING
async def test_retry_after_is_honoured(app: App, fake: FakeTelegram) -> None:
    fake.flood("sendMessage", retry_after=1)
    fake.say(DM, ALICE, "Hi")
    await nth_message(fake, DM, 1)
    tries = [c for c in fake.calls if c.method == "sendMessage"]
    assert [c.status for c in tries] == [429, 200]
    assert tries[1].at - tries[0].at >= 0.9


@FLOOD_WARNING
async def test_retry_after_while_streaming(start_bot: Starter, fake: FakeTelegram) -> None:
    text = " ".join(f"w{i}" for i in range(30))
    await start_bot([ScriptedModel("slow", text, delay=0.1)])
    fake.flood("editMessageText", retry_after=2)
    fake.say(DM, ALICE, "Go")
    await fake.wait_for(lambda: any(buttons(c) for c in fake.of("editMessageText")), 20)
    edits = [c for c in fake.calls if c.method == "editMessageText"]
    assert edits[0].status == 429 and edits[1].at - edits[0].at >= 1.9
    assert fake.texts(DM) == [text]


@pytest.mark.parametrize("fail_after", [0, 2])
async def test_a_failed_generation_gets_an_apology_and_the_bot_goes_on(
        start_bot: Starter, fake: FakeTelegram, fail_after: int) -> None:
    model = StubModel("flaky", fail_after=fail_after)
    await start_bot([model])
    fake.say(DM, ALICE, "Hi")
    await fake.wait_for(lambda: "Sorry" in " ".join(fake.texts(DM)))
    (shown,) = fake.texts(DM)
    assert shown.startswith("Sorry, one of my models is unavailable")
    model.fail_after = None
    fake.say(DM, ALICE, "Again?")
    assert (await nth_message(fake, DM, 2)).params["text"].startswith("flaky reply")
