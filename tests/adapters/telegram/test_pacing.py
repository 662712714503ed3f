"""Replies streaming at once into one group (here: into three forum topics of it, each its
own conversation) share Telegram's budget of about 20 messages a minute per group."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.telegram import TelegramOptions
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram, User
from tests.stubs import ScriptedModel

from .conftest import Starter
from .helpers import FORUM

PEOPLE = [User(2001, "Ann"), User(2002, "Ben"), User(2003, "Cid")]
TOPICS = [10, 20, 30]
TEXT = " ".join(f"w{i}" for i in range(56))  # 56 words, 0.5 s apart: ~28 s of streaming


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_three_streaming_replies_in_one_group_stay_within_its_budget(
        start_bot: Starter, fake: FakeTelegram) -> None:
    fake.group_limit = 20  # Telegram's flood control: a 429 beyond 20 a minute
    await start_bot([ScriptedModel("slow", TEXT, delay=0.5)],
                    TelegramOptions(poll_timeout=1))  # the default pacing: 3 s, 20/min
    started = asyncio.get_running_loop().time()
    for topic, person in zip(TOPICS, PEOPLE, strict=True):
        fake.say(FORUM, person, f"@{BOT_USERNAME} tell me a long story", thread=topic)
    await fake.wait_for(lambda: fake.texts(FORUM) == [TEXT] * 3, 90)
    took = asyncio.get_running_loop().time() - started
    pushes = fake.in_group(FORUM.id)
    assert took < 60 and len(pushes) <= 20  # every send and edit fell in one minute
    assert not [c for c in fake.calls if c.status == 429]  # flood control never tripped
    for topic in TOPICS:  # each still streamed, within the shared budget
        assert [c for c in pushes if c.params.get("message_thread_id") == topic
                and c.params["text"].endswith(" …")]

