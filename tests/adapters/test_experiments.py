"""`/experiment` on both loopback platforms with the real clients: an admin starts one, two
users land in different arms and every reply to each comes from their arm's blend; a member
cannot start one; bad arms and a second experiment are refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord import configure_endpoints
from bot.adapters.telegram import TelegramOptions, run_telegram
from bot.app import App
from bot.conversation.experiments import arm_index
from bot.storage.experiments import Experiments
from engines import ChatModel
from tests.adapters.discord.conftest import make_app as discord_app
from tests.adapters.discord.conftest import start_bot, until
from tests.adapters.telegram.conftest import make_app as telegram_app
from tests.adapters.telegram.helpers import ALICE, BOB, GROUP
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram
from tests.stubs import StubModel

ARMS = ("solo=single:a", "other=b")  # arm 0 answers with model a, arm 1 with model b


class Platform:
    """An admin and a member of one group, on one platform."""

    name: str
    app: App
    users: dict[str, str]  # "admin" / "member" -> the platform's user id
    channel: str  # the group's channel id

    async def command(self, who: str, words: list[str]) -> str:
        raise NotImplementedError

    async def say(self, who: str, text: str) -> str:
        raise NotImplementedError


class OnDiscord(Platform):
    name = "discord"

    def __init__(self, fake: FakeDiscord, app: App) -> None:
        self.fake, self.app = fake, app
        self.users = {"admin": fake.admin_id, "member": fake.member_id}
        self.channel = fake.channel_id

    async def command(self, who: str, words: list[str]) -> str:
        before = len(self.fake.followups())
        action, *rest = words
        options: dict[str, Any] = {}
        if action == "start":
            days = rest.pop() if "=" not in rest[-1] else None
            options = {"name": rest[0], "arms": " ".join(rest[1:])}
            if days is not None:
                options["days"] = int(days)
        await self.fake.slash("experiment", action, uid=self.users[who], **options)
        await until(lambda: len(self.fake.followups()) > before)
        return str(self.fake.followups()[-1].body["content"])

    async def say(self, who: str, text: str) -> str:
        channel = self.fake.channel_id
        before = len(self.fake.bot_messages(channel))
        await self.fake.user_says(text, uid=self.users[who], mention=True)

        def done() -> bool:
            shown = self.fake.bot_messages(channel)
            return len(shown) > before and not shown[-1]["content"].endswith(" …")

        await until(done)
        return str(self.fake.bot_messages(channel)[-1]["content"])


class OnTelegram(Platform):
    name = "telegram"

    def __init__(self, fake: FakeTelegram, app: App) -> None:
        self.fake, self.app = fake, app
        self.users = {"admin": str(ALICE.id), "member": str(BOB.id)}
        self.who = {"admin": ALICE, "member": BOB}
        self.channel = str(GROUP.id)
        fake.set_member(GROUP, ALICE, "administrator")

    async def _answer(self, user: str, text: str) -> str:
        before = len(self.fake.texts(GROUP))
        self.fake.say(GROUP, self.who[user], text)
        await self.fake.wait_for(lambda: len(self.fake.texts(GROUP)) > before)
        await self.fake.settle(0.2)
        return self.fake.texts(GROUP)[-1]

    async def command(self, who: str, words: list[str]) -> str:
        return await self._answer(who, "/experiment " + " ".join(words))

    async def say(self, who: str, text: str) -> str:
        return await self._answer(who, f"@{BOT_USERNAME} {text}")


Starter = Callable[[], Awaitable[Platform]]


@pytest.fixture(params=["discord", "telegram"])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Starter]:
    stop: list[Callable[[], Awaitable[None]]] = []
    models: list[ChatModel] = [StubModel("a"), StubModel("b")]

    async def start() -> Platform:
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
            return OnDiscord(fake, app)
        tg = FakeTelegram()
        await tg.start()
        app = await telegram_app(tmp_path, tg, models)
        task = asyncio.create_task(run_telegram(app.core, app.settings,
                                                TelegramOptions(group=1.0, poll_timeout=1)))
        await tg.wait_for(lambda: tg.of("setMyCommands") or task.done())

        async def stop_telegram() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)
            await app.close()
            await tg.close()

        stop.append(stop_telegram)
        return OnTelegram(tg, app)

    yield start
    for halt in stop:
        await halt()


def split_name(p: Platform) -> tuple[str, dict[str, int]]:
    """An experiment name whose hash puts the admin and the member in different arms."""
    for n in range(100):
        name = f"trial-{n}"
        arms = {who: arm_index(name, p.name, uid, len(ARMS)) for who, uid in p.users.items()}
        if len(set(arms.values())) == 2:
            return name, arms
    raise AssertionError("no name splits the two users")


async def test_users_get_their_arms_blend_and_members_cannot_start_one(
        platform: Starter) -> None:
    p = await platform()
    name, arm_of = split_name(p)
    refused = await p.command("member", ["start", name, *ARMS])
    assert refused == "Only admins can start or stop experiments; nothing was changed."
    started = await p.command("admin", ["start", name, *ARMS, "30"])
    assert started.startswith(f"Experiment {name} started until ")
    assert "solo=single:a, other=single:b" in started

    for _ in range(2):  # the channel's own mode is uniform: each arm pins one model
        for who in ("admin", "member"):
            reply = await p.say(who, "hello")
            model = "ab"[arm_of[who]]
            assert reply.startswith(f"{model} reply"), (who, reply)

    community = await p.app.store.find_channel(p.name, p.channel)
    assert community is not None
    table = Experiments(p.app.store)
    [experiment] = await table.all(community.community_id)
    assert await table.counts(experiment.id) == {"solo": 1, "other": 1}
    status = await p.command("member", ["status"])
    assert f"Experiment {name}, running since" in status
    assert "solo=single:a (1 users), other=single:b (1 users)" in status

    again = await p.command("admin", ["start", "second", *ARMS])
    assert again == (f"Experiment {name} is already running here; stop it with "
                     "/experiment stop first. Nothing was started.")
    assert (await p.command("member", ["stop"])).startswith("Only admins")
    stopped = await p.command("admin", ["stop"])
    assert stopped.startswith(f"Experiment {name} stopped; 2 users took part.")
    await p.say("member", "back to normal?")  # the channel's own blend again: no error


async def test_unknown_modes_and_models_are_refused(platform: Starter) -> None:
    p = await platform()
    bad = await p.command("admin", ["start", "x", "one=uniform", "two=gpt-9"])
    assert bad.startswith("Cannot start it: arm two: unknown or unavailable mode or model "
                          "'gpt-9'")
    assert "\n" not in bad
    one = await p.command("admin", ["start", "x", "one=uniform"])
    assert "at least two arms" in one
    assert (await p.command("admin", ["status"])) == "No experiment is running here."
