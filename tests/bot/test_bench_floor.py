"""`bot.bench_floor`, the comparison bot of `blendbot bench service`: the real discord.py
client against the loopback Discord answers a mention from the stub model's stream, first
words posted and the whole reply edited in, and ignores messages not meant for it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.bench_service import WRITING, StubServer, stub_config
from tests.fakes.discord_api import FakeDiscord


async def _writes(fake: FakeDiscord, count: int) -> list[tuple[str, str]]:
    for _ in range(400):
        writes = [(c.method, (c.body or {}).get("content", "")) for c in fake.calls
                  if c.method in ("POST", "PATCH") and "/messages" in c.path]
        if len(writes) >= count:
            return writes
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} writes, saw {fake.calls}")


async def test_the_floor_bot_streams_a_reply_into_a_post_and_an_edit(tmp_path: Path) -> None:
    fake, stub = FakeDiscord(), StubServer(ttft_s=0.05, token_s=0.2, tokens=5, vary=False)
    await fake.start()
    await stub.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    env.update(DISCORD_TOKEN=fake.valid_token, BLENDBOT_DISCORD_API_URL=fake.api_url,
               BLENDBOT_DISCORD_GATEWAY_URL=fake.gateway_url,
               BLENDBOT_CONFIG=str(stub_config(tmp_path, stub.url)))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.bench_floor",
                                                env=env, stdin=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(fake.ready.wait(), 60)
        await fake.user_says("not for the bot")
        await fake.user_says("hello?", mention=True)
        writes = await _writes(fake, 2)
        assert writes[0] == ("POST", "word0" + WRITING)
        assert writes[-1] == ("PATCH", "word0 word1 word2 word3 word4")
        assert len(writes) == 2  # the unaddressed message got nothing
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        await stub.stop()
        await fake.stop()
