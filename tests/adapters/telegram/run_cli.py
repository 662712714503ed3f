"""`blendbot run` as an operator starts it, pointed at the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram

from .helpers import ALICE, BOB, DM, GROUP, buttons, nth_message, sent


async def blendbot_run(data_dir: Path, fake: FakeTelegram,
                       token: str | None = None, **env: str) -> asyncio.subprocess.Process:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("BLENDBOT_") and k not in ("TELEGRAM_TOKEN", "DISCORD_TOKEN")}
    environ.update({
        "TELEGRAM_TOKEN": token or fake.token,
        "BLENDBOT_TELEGRAM_API_URL": fake.url,
        "BLENDBOT_DATA_DIR": str(data_dir),
        "BLENDBOT_MAX_TOKENS": "10",
        "BLENDBOT_SEED": "3",
        **env,
    })
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=environ, cwd=data_dir,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def member_and_admin_flow(fake: FakeTelegram) -> int:
    """The issue's 'done when' list; returns the Telegram id of a rated reply."""
    commands = await fake.wait_for(lambda: fake.of("setMyCommands"), 60)
    assert {"mode", "persona", "reset", "stats"} <= {
        c["command"] for c in commands[0].params["commands"]}

    fake.say(DM, ALICE, "Hi! Who are you?")
    reply = await nth_message(fake, DM, 1, within=60)
    assert reply.params["text"].strip() and "parse_mode" not in reply.params
    await fake.wait_for(lambda: any(buttons(c) for c in
                                    sent(fake, DM) + fake.of("editMessageText")), 30)

    fake.say(GROUP, ALICE, "nobody asked the bot")
    fake.say(GROUP, BOB, f"@{BOT_USERNAME} tell me about tea")
    mention = await nth_message(fake, GROUP, 1, within=60)
    assert mention.params["reply_parameters"]["message_id"] == 2  # Bob's, not Alice's

    fake.set_member(GROUP, ALICE, "administrator")
    fake.say(GROUP, BOB, "/mode single")
    await fake.wait_for(lambda: any("Only admins" in c.params["text"]
                                    for c in sent(fake, GROUP)), 30)
    fake.say(GROUP, ALICE, "/mode single")
    await fake.wait_for(lambda: any("Blend mode is now single" in c.params["text"]
                                    for c in sent(fake, GROUP)), 30)
    fake.say(GROUP, BOB, "/status")
    await fake.wait_for(lambda: any("Mode: single" in c.params["text"]
                                    for c in sent(fake, GROUP)), 30)

    rated = fake.last_id(DM)
    fake.press(DM, ALICE, rated, "fb:up")
    answers = await fake.wait_for(lambda: fake.of("answerCallbackQuery"), 30)
    assert "Thanks" in answers[0].params.get("text", "")
    return rated
