"""`blendbot run` killed with SIGKILL while a model is writing: nothing acknowledged is lost.

The user's message was committed before the model ran, so it is in the history the next turn
is written from; the half-written reply was never stored, so it is not; and the message is
still owed a reply, which the restarted process gives once, without being asked again — and
then answers what was said while it was down, which Discord does not replay."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.storage import Store
from tests.adapters.discord.conftest import until
from tests.adapters.discord.test_run import blendbot_run
from tests.fakes.discord_api import FakeDiscord


class HangingModel:
    """An OpenAI-compatible stream that writes two words, then waits until `finish` is set
    (and then writes the rest); every request's messages are kept."""

    def __init__(self) -> None:
        self.finish = asyncio.Event()
        self.requests: list[list[dict[str, Any]]] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self.runner = web.AppRunner(self.app)
        self.url = ""

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/v1"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((await request.json())["messages"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i, word in enumerate(["Once", " upon", " a", " time"]):
            if i == 2:
                await self.finish.wait()
            await response.write(_event({"choices": [{"index": 0, "delta": {"content": word},
                                                      "finish_reason": None}]}))
        await response.write(_event({"choices": [{"index": 0, "delta": {},
                                                  "finish_reason": "stop"}]}))
        await response.write(b"data: [DONE]\n\n")
        return response


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _config(directory: Path, url: str) -> Path:
    path = directory / "blendbot.toml"
    path.write_text(f'[[models]]\nid = "stub"\nbackend = "openai"\nbase_url = "{url}"\n'
                    'prompt_format = "chat_template"\nn_ctx = 4096\nmax_tokens = 32\n')
    return path


async def _history(data: Path, channel_id: str) -> list[tuple[str, str]]:
    store = Store(f"sqlite+aiosqlite:///{data / 'blendbot.db'}")
    await store.open()
    try:
        channel = await store.find_channel("discord", channel_id)
        return [(m.role, m.text) for m in await store.history(channel.id)] if channel else []
    finally:
        await store.close()


async def test_sigkill_while_generating_keeps_the_message_and_the_restart_answers_it_once(
        tmp_path: Path, fake: FakeDiscord) -> None:
    model = HangingModel()
    await model.start()
    data = tmp_path / "data"
    data.mkdir()
    config = str(_config(tmp_path, model.url))
    proc = await blendbot_run(data, fake, fake.valid_token, BLENDBOT_CONFIG=config)
    try:
        await asyncio.wait_for(fake.ready.wait(), 60)
        await until(lambda: bool(fake.commands), 30)
        await fake.user_says("tell me a story", mention=True)
        await until(lambda: any(m["content"].startswith("Once upon")
                                for m in fake.bot_messages(fake.channel_id)), 30)
        await asyncio.sleep(0.5)  # where the preview shows is noted (one write) just after
        proc.send_signal(signal.SIGKILL)  # mid-reply: the preview is shown, the end is not
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert await _history(data, fake.channel_id) == [("user", "tell me a story")]
    # sent while no process serves the shard: Discord will not replay it to the next session
    assert not fake.shards_up()
    await fake.user_says("are you still there?", mention=True)

    model.finish.set()
    identified = len(fake.identifies)
    proc = await blendbot_run(data, fake, fake.valid_token, BLENDBOT_CONFIG=config)
    try:
        await until(lambda: len(fake.identifies) > identified, 60)
        # the killed turn's lease lapses and the restarted process answers it, unasked
        await until(lambda: finished(fake) >= 1, 60)
        # written into the killed process's half preview, not posted beside it
        assert fake.bot_messages(fake.channel_id)[0]["content"] == (
            "Once upon a time")
        # then the message it never saw, read back from the channel: in the order sent
        await until(lambda: finished(fake) == 2, 60)
        assert await _history(data, fake.channel_id) == [
            ("user", "tell me a story"), ("assistant", "Once upon a time"),
            ("user", "are you still there?"), ("assistant", "Once upon a time")]
        await fake.user_says("and then?", mention=True)
        await until(lambda: finished(fake) == 3, 60)
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        await model.runner.cleanup()
    assert b"Traceback" not in err, err.decode()[-2000:]
    said = [m["content"] for m in model.requests[-1] if m["role"] == "user"]
    assert any("tell me a story" in s for s in said) and any("and then?" in s for s in said)
    await asyncio.sleep(0)
    assert [m["content"] for m in fake.bot_messages(fake.channel_id)] == [
        "Once upon a time"] * 3  # none twice, none beside the killed preview
    assert await _history(data, fake.channel_id) == [
        ("user", "tell me a story"), ("assistant", "Once upon a time"),
        ("user", "are you still there?"), ("assistant", "Once upon a time"),
        ("user", "and then?"), ("assistant", "Once upon a time")]


def finished(fake: FakeDiscord) -> int:
    return sum(m["content"] == "Once upon a time" for m in fake.bot_messages(fake.channel_id))
