"""One table of conversations, played on both loopback platforms with the real clients.

Each scenario talks to the bot through a `Side` (Discord or Telegram: the real discord.py
or python-telegram-bot client against the fakes in `tests/fakes`) and asserts what a member
would see and what is stored; the assertions are the same for both platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from sqlalchemy.exc import OperationalError

from bot.adapters.discord import configure_endpoints
from bot.adapters.telegram import TelegramOptions, run_telegram
from bot.adapters.telegram.outbox import units
from bot.app import App
from bot.conversation.memory import SUMMARY_SYSTEM
from bot.conversation.stages.addressed import EMPTY_HINT
from bot.storage import StoredMessage
from engines import ChatModel, Conversation, Generation, SamplingParams
from tests.adapters.discord.conftest import make_app as discord_app
from tests.adapters.discord.conftest import start_bot
from tests.adapters.telegram.conftest import make_app as telegram_app
from tests.adapters.telegram.helpers import ALICE, GROUP
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram
from tests.stubs import ScriptedModel, StubModel

LONG = " ".join(f"word{i:04d}" for i in range(560))  # 5,039 characters: 3 or 2 parts
APOLOGY = "Sorry, something went wrong on my side. Please try again."
PREVIEW = " …"


class NoticeModel(StubModel):
    """Answers like `StubModel` and says the history had to be shortened."""

    async def stream(self, conversation: Conversation, params: SamplingParams, *,
                     channel: str | None = None):  # type: ignore[override]
        async for item in super().stream(conversation, params, channel=channel):
            if isinstance(item, Generation):
                item = replace(item, notices=("your message was shortened to fit",))
            yield item


class Side:
    """What a member does and sees on one platform, in one group channel."""

    platform: str
    limit: int
    app: App

    async def say(self, text: str, *, mention: bool = True, reply_to: str | None = None,
                  twice: bool = False) -> None: ...

    def shown(self) -> list[str]:
        """The bot's messages in the channel as they read now, oldest first."""
        raise NotImplementedError

    def ids(self) -> list[str]:
        raise NotImplementedError

    async def regenerate(self, message_id: str) -> None: ...

    def measure(self, text: str) -> int:
        return len(text)

    def calls(self) -> int:
        raise NotImplementedError

    @property
    def channel(self) -> str:
        raise NotImplementedError

    async def history(self) -> list[StoredMessage]:
        return await self.app.service.history(self.platform, self.channel)

    said = 0  # messages this side has sent (each ends one turn of the core at least)

    def turns_ended(self) -> int:
        """Turns of this platform the core has finished (its `blendbot_turns` counter)."""
        value = self.app.core.metrics.registry.get_sample_value
        return int(sum(value("blendbot_turns_total", {"platform": self.platform,
                                                     "outcome": kind}) or 0
                       for kind in ("reply", "notice", "error", "ignored")))

    async def settle(self, quiet: float = 0.4, within: float = 30.0) -> None:
        """Wait until the core has finished a turn for every message said, the bot has
        stopped calling the platform and no preview is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.turns_ended() < self.said:
            assert loop.time() < deadline, "the bot never finished the turns it was given"
            await asyncio.sleep(0.05)
        while True:
            seen = self.calls()
            await asyncio.sleep(quiet)
            if self.calls() == seen and not any(t.endswith(PREVIEW) for t in self.shown()):
                return
            assert loop.time() < deadline, "the bot never settled"


class DiscordSide(Side):
    platform, limit = "discord", 2000

    def __init__(self, fake: FakeDiscord, app: App) -> None:
        self.fake, self.app = fake, app

    @property
    def channel(self) -> str:
        return self.fake.channel_id

    async def say(self, text: str, *, mention: bool = True, reply_to: str | None = None,
                  twice: bool = False) -> None:
        message = await self.fake.user_says(text, mention=mention, reply_to=reply_to)
        self.said += 1
        if twice:  # a resumed or duplicate gateway session replays the event
            await self.fake.dispatch("MESSAGE_CREATE", message)

    def shown(self) -> list[str]:
        return [m["content"] for m in self.fake.bot_messages(self.channel)]

    def ids(self) -> list[str]:
        return [m["id"] for m in self.fake.bot_messages(self.channel)]

    async def regenerate(self, message_id: str) -> None:
        from bot.adapters.discord.output import REGENERATE_ID

        await self.fake.click(message_id, REGENERATE_ID, uid=self.fake.member_id)

    def calls(self) -> int:
        return len(self.fake.calls)


class TelegramSide(Side):
    platform, limit = "telegram", 4096

    def __init__(self, fake: FakeTelegram, app: App) -> None:
        self.fake, self.app = fake, app

    @property
    def channel(self) -> str:
        return str(GROUP.id)

    async def say(self, text: str, *, mention: bool = True, reply_to: str | None = None,
                  twice: bool = False) -> None:
        update = self.fake.update(GROUP, ALICE, f"@{BOT_USERNAME} {text}" if mention else text,
                                  reply_to=int(reply_to) if reply_to else None)
        self.fake.deliver(update)
        self.said += 1
        if twice:  # a retried webhook, or a second worker, delivers it again
            self.fake.deliver(update)

    def shown(self) -> list[str]:
        return self.fake.texts(GROUP)

    def ids(self) -> list[str]:
        return [str(i) for (c, i) in sorted(self.fake._state.messages) if c == GROUP.id]

    async def regenerate(self, message_id: str) -> None:
        self.fake.press(GROUP, ALICE, int(message_id), "fb:regen")

    def measure(self, text: str) -> int:
        return units(text)

    def calls(self) -> int:
        return len(self.fake.calls)


Starter = Callable[[list[ChatModel]], Awaitable[Side]]


@pytest.fixture(params=["discord", "telegram"])
async def side(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Starter]:
    """Starts the bot on the given models on one platform; stops it afterwards."""
    stop: list[Callable[[], Awaitable[None]]] = []

    async def start(models: list[ChatModel]) -> Side:
        if request.param == "discord":
            fake = FakeDiscord()
            await fake.start()
            base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
            configure_endpoints(fake.api_url, fake.gateway_url)
            app = await discord_app(tmp_path, models, rate_limit=100)
            run = await start_bot(app, fake)
            await asyncio.wait_for(run.bot.wait_until_ready(), 20)

            async def stop_discord() -> None:
                await run.bot.close()
                await asyncio.wait_for(run.task, 10)
                await app.close()
                await fake.stop()
                Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway

            stop.append(stop_discord)
            return DiscordSide(fake, app)
        tg = FakeTelegram()
        await tg.start()
        app = await telegram_app(tmp_path, tg, models)
        options = TelegramOptions(group=1.0, poll_timeout=1)
        task = asyncio.create_task(run_telegram(app.core, app.settings, options))
        await tg.wait_for(lambda: tg.of("setMyCommands") or task.done())

        async def stop_telegram() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)
            await app.close()
            await tg.close()

        stop.append(stop_telegram)
        return TelegramSide(tg, app)

    yield start
    for halt in stop:
        await halt()


async def conversation(side: Side) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in await side.history()]


# ---- the scenarios -------------------------------------------------------------------------

async def test_mention_then_reply_to_the_bot(side: Starter) -> None:
    s = await side([StubModel("a")])
    await s.say("hello bot")
    await s.settle()
    assert s.shown() == ["a reply 1"]
    await s.say("and you?", mention=False, reply_to=s.ids()[0])
    await s.settle()
    assert s.shown() == ["a reply 1", "a reply 2"]
    assert await conversation(s) == [("user", "hello bot"), ("assistant", "a reply 1"),
                                     ("user", "and you?"), ("assistant", "a reply 2")]


async def test_unaddressed_group_chatter_is_ignored_and_not_stored(side: Starter) -> None:
    model = StubModel("a")
    s = await side([model])
    await s.say("just chatting among ourselves", mention=False)
    await s.settle()
    assert s.shown() == [] and model.calls == [] and await conversation(s) == []


async def test_a_message_delivered_twice_gets_one_reply(side: Starter) -> None:
    model = StubModel("a")
    s = await side([model])
    await s.say("only once, please", twice=True)
    await s.settle()
    assert s.shown() == ["a reply 1"] and len(model.calls) == 1
    assert await conversation(s) == [("user", "only once, please"), ("assistant", "a reply 1")]


async def test_a_long_reply_is_split_at_the_platform_limit(side: Starter) -> None:
    s = await side([ScriptedModel("long", LONG)])
    await s.say("tell me everything")
    await s.settle()
    parts = s.shown()
    assert len(parts) >= 2 and all(s.measure(p) <= s.limit for p in parts)
    assert " ".join(parts).split() == LONG.split()
    [_, reply] = await s.history()
    assert reply.text == LONG
    assert len(await s.app.service.replies.deliveries(reply.id)) == len(parts)


async def test_a_model_failure_is_one_apology_and_the_bot_goes_on(side: Starter) -> None:
    model = StubModel("flaky", fail_after=0)
    s = await side([model])
    await s.say("are you there?")
    await s.settle()
    [apology] = s.shown()
    assert apology.startswith("Sorry, one of my models is unavailable")
    assert await conversation(s) == [("user", "are you there?")]
    model.fail_after = None
    await s.say("now?")
    await s.settle()
    assert s.shown()[1] == "flaky reply 2"


async def test_a_database_failure_is_one_apology_and_loses_no_message(side: Starter) -> None:
    s = await side([StubModel("a")])
    with database_down(s.app):
        await s.say("do you remember this?")
        await s.settle()
    assert s.shown() == [APOLOGY]
    await s.say("and this?")
    await s.settle()
    assert s.shown() == [APOLOGY, "a reply 1"]
    assert await conversation(s) == [("user", "do you remember this?"), ("user", "and this?"),
                                     ("assistant", "a reply 1")]


async def test_regenerate_twice_replaces_the_reply_in_place(side: Starter) -> None:
    s = await side([StubModel("a")])
    await s.say("try me")
    await s.settle()
    [shown] = s.ids()
    for expected in ("a reply 2", "a reply 3"):
        await s.regenerate(shown)
        await s.settle()
        assert s.shown() == [expected]  # the same message, edited
    assert await conversation(s) == [("user", "try me"), ("assistant", "a reply 3")]
    first = await s.app.store.find_channel(s.platform, s.channel)
    assert first is not None


async def test_notices_are_shown_under_the_reply(side: Starter) -> None:
    s = await side([NoticeModel("a")])
    await s.say("a very long story")
    await s.settle()
    assert s.shown() == ["a reply 1\n\n(your message was shortened to fit)"]
    assert await conversation(s) == [("user", "a very long story"), ("assistant", "a reply 1")]


@contextlib.contextmanager
def database_down(app: App) -> Any:
    """Every database call fails as it does while the server is unreachable."""
    store: Any = app.store
    working = store._sessions

    def refuse() -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))

    store._sessions = refuse
    try:
        yield
    finally:
        store._sessions = working


async def test_only_a_mention_gets_a_hint_and_no_model_call(side: Starter) -> None:
    model = StubModel("a")
    s = await side([model])
    await s.say("")
    await s.settle()
    assert s.shown() == [EMPTY_HINT] and model.calls == [] and await conversation(s) == []


class SmallContext(StubModel):
    """A member with a 300-token context (a token is a word here)."""

    @property
    def context_window(self) -> int:
        return 300


async def test_a_reply_to_a_message_out_of_the_window_quotes_it(side: Starter) -> None:
    model = SmallContext("a")
    s = await side([model])
    await s.say("hello bot")
    await s.settle()
    first = s.ids()[0]
    for n in range(5):  # long turns push the first exchange out of the window
        await s.say(f"story {n}: " + " ".join(f"w{n}x{k}" for k in range(60)))
        await s.settle()
    await s.say("what did you mean by that?", mention=False, reply_to=first)
    await s.settle()
    prompt = answered(model)[-1]
    assert all("hello bot" not in m.content for m in prompt.history)  # fell out ...
    assert prompt.history[-1].content == (  # ... so it is quoted with the reply
        "(replying to Blendbot:\n> a reply 1)\nwhat did you mean by that?")
    await s.say("and this one?", mention=False, reply_to=s.ids()[-1])
    await s.settle()
    assert answered(model)[-1].history[-1].content == "and this one?"  # in the window: as is


def answered(model: StubModel) -> list[Conversation]:
    """The prompts a model answered (not the summaries it wrote)."""
    return [c for c in model.calls if c.system != SUMMARY_SYSTEM]
