"""`blendbot run` against the loopback fake Discord, as an operator starts it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.adapters.discord.conftest import until
from tests.fakes.discord_api import FakeDiscord


async def blendbot_run(data_dir: Path, fake: FakeDiscord, token: str,
                       **env: str) -> asyncio.subprocess.Process:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("BLENDBOT_") and k not in ("TELEGRAM_TOKEN",)}
    environ.update({
        "DISCORD_TOKEN": token,
        "BLENDBOT_DISCORD_API_URL": fake.api_url,
        "BLENDBOT_DISCORD_GATEWAY_URL": fake.gateway_url,
        "BLENDBOT_DATA_DIR": str(data_dir),
        "BLENDBOT_MAX_TOKENS": "12",
        **env,
    })
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=environ, cwd=data_dir,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


@pytest.mark.model
async def test_run_answers_a_mention_with_the_embedded_models(data_dir: Path,
                                                              fake: FakeDiscord) -> None:
    proc = await blendbot_run(data_dir, fake, fake.valid_token)
    try:
        await asyncio.wait_for(fake.ready.wait(), 60)
        assert {"blend", "persona", "reset", "stats"} <= {c["name"] for c in fake.commands}
        await until(lambda: bool(fake.commands), 10)
        await fake.user_says("Hello! Who are you?", mention=True)
        await until(lambda: any(not m["content"].endswith(" …") and m["components"]
                                for m in fake.bot_messages(fake.channel_id)), 120)
        await fake.slash("blend", "mode", uid=fake.admin_id, mode="single")
        await until(lambda: len(fake.followups()) == 1, 30)
        await fake.slash("blend", "mode", uid=fake.member_id, mode="uniform")
        await until(lambda: len(fake.followups()) == 2, 30)
        await fake.slash("blend", "status", uid=fake.member_id)
        await until(lambda: len(fake.followups()) == 3, 30)
        texts = [c.body["content"] for c in fake.followups()]
        assert "single (smollm2-135m)" in texts[0] and "Only admins" in texts[1]
        assert "Mode: single (smollm2-135m)" in texts[2]
        for call in fake.posts() + fake.edits() + fake.followups():
            assert call.body["allowed_mentions"]["parse"] == []
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert b"Traceback" not in err, err.decode()[-2000:]


@pytest.mark.parametrize(("token", "deny", "says"), [
    ("wrong-token", False, "Discord rejected DISCORD_TOKEN"),
    ("test-token", True, "Message Content intent"),
])
async def test_bad_token_or_intent_is_one_line_exit_1(tmp_path: Path, fake: FakeDiscord,
                                                      token: str, deny: bool, says: str) -> None:
    fake.deny_message_content = deny
    proc = await blendbot_run(tmp_path, fake, token)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    lines = err.decode().strip().splitlines()
    assert lines[-1].startswith("blendbot: error:") and says in lines[-1]
    assert "Traceback" not in err.decode()
    assert token not in err.decode() or token == "test-token"


async def test_shard_range_identifies_with_its_shards(tmp_path: Path, fake: FakeDiscord) -> None:
    proc = await blendbot_run(tmp_path, fake, fake.valid_token,
                              BLENDBOT_DISCORD_SHARDS="1-2/4")
    try:
        await until(lambda: len(fake.identifies) == 2, 60)
        assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(1, 4), (2, 4)]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)


@pytest.mark.model
async def test_a_replayed_message_create_gets_one_reply_also_after_a_restart(
        data_dir: Path, fake: FakeDiscord) -> None:
    def replies() -> list[dict]:
        return [m for m in fake.bot_messages(fake.channel_id)
                if not m["content"].endswith(" …")]

    proc = await blendbot_run(data_dir, fake, fake.valid_token)
    try:
        await asyncio.wait_for(fake.ready.wait(), 60)
        message = await fake.user_says("Hello! Who are you?", mention=True)
        await fake.dispatch("MESSAGE_CREATE", message)  # a resumed session replays it
        await until(lambda: any(m["components"] for m in replies()), 120)
        await asyncio.sleep(3)  # time enough for a second reply to start
        assert len(replies()) == 1
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)

    fake.ready.clear()
    proc = await blendbot_run(data_dir, fake, fake.valid_token)  # the same database
    try:
        await asyncio.wait_for(fake.ready.wait(), 60)
        await fake.dispatch("MESSAGE_CREATE", message)
        await fake.user_says("And now?", mention=True)  # answered after the replay
        await until(lambda: len(replies()) == 2 and all(m["components"] for m in replies()),
                    120)
        await asyncio.sleep(1)
        assert len(replies()) == 2
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert b"Traceback" not in err, err.decode()[-2000:]
