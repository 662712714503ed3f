"""Starting the Telegram bot: a bad token, webhook mode, and `blendbot run` on real models."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.adapters.telegram import run_telegram
from bot.config import ConfigError
from bot.storage import Store
from bot.storage.feedback import Replies
from tests.fakes.telegram_api import FakeTelegram

from .conftest import FAST, Starter, make_app
from .helpers import ALICE, DM, nth_message, sent

SECRET = "s3cret_Token-1"


async def test_invalid_token_is_one_clear_config_error(tmp_path: Path, fake: FakeTelegram,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    app = await make_app(tmp_path, fake, token="999:not-the-token")
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(ConfigError) as raised:
            await run_telegram(app.core, app.settings, FAST)
    finally:
        await app.close()
    message = str(raised.value)
    assert "TELEGRAM_TOKEN was rejected" in message and "\n" not in message
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp")]
    assert "not-the-token" not in message and not any("not-the-token" in m for m in ours)
    assert [c.method for c in fake.calls] == ["getMe"]


async def test_missing_token_and_unreachable_api(tmp_path: Path, fake: FakeTelegram) -> None:
    app = await make_app(tmp_path, fake, telegram_api_url="http://127.0.0.1:9/bot")
    try:
        with pytest.raises(ConfigError, match="cannot reach the Telegram Bot API"):
            await run_telegram(app.core, app.settings, FAST)
        app.settings.telegram_token = None
        with pytest.raises(ConfigError, match="TELEGRAM_TOKEN is not set"):
            await run_telegram(app.core, app.settings, FAST)
    finally:
        await app.close()


async def listening(port: int, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert asyncio.get_running_loop().time() < deadline, "nothing listens"
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_mode_checks_the_secret(tmp_path: Path, fake: FakeTelegram,
                                              start_bot: Starter,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    webhook = {"telegram_webhook_url": url, "telegram_webhook_listen": "127.0.0.1",
               "telegram_webhook_port": port}
    monkeypatch.delenv("BLENDBOT_TELEGRAM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="BLENDBOT_TELEGRAM_WEBHOOK_SECRET"):
        await start_bot(**webhook)

    monkeypatch.setenv("BLENDBOT_TELEGRAM_WEBHOOK_SECRET", SECRET)
    await start_bot(**webhook)
    await fake.wait_for(lambda: fake.webhook)
    await listening(port)  # PTB sets the webhook first, then starts its server
    assert fake.webhook["url"] == url and fake.webhook["secret_token"] == SECRET
    header = "X-Telegram-Bot-Api-Secret-Token"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=fake.update(DM, ALICE, "forged"),
                             headers={header: "wrong"}) as wrong:
            assert wrong.status == 403
        async with http.post(url, json=fake.update(DM, ALICE, "no header")) as missing:
            assert missing.status == 403
        async with http.post(url, json=fake.update(DM, ALICE, "Hello by webhook"),
                             headers={header: SECRET}) as right:
            assert right.status == 200
    await nth_message(fake, DM, 1)
    await fake.settle()
    assert len(sent(fake, DM)) == 1 and not fake.of("getUpdates")


@pytest.mark.model
async def test_blendbot_run_answers_with_the_embedded_models(data_dir: Path,
                                                             fake: FakeTelegram) -> None:
    """The issue's acceptance run: `TELEGRAM_TOKEN=… BLENDBOT_TELEGRAM_API_URL=… blendbot run`."""
    from .run_cli import blendbot_run, member_and_admin_flow

    proc = await blendbot_run(data_dir, fake)
    try:
        rated = await member_and_admin_flow(fake)
    finally:
        if proc.returncode is None:
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0, (await proc.stderr.read()).decode()  # type: ignore[union-attr]

    store = Store(f"sqlite+aiosqlite:///{data_dir / 'blendbot.db'}")
    await store.open()
    try:
        replies = Replies(store)
        ref = await replies.find("telegram", f"{DM.id}:{rated}")
        assert ref is not None and ref.model_id in {"smollm2-135m", "gemma3-270m"}
        assert [(k, m) for _, k, m in await replies.feedback(ref.message_id)] == [
            ("up", ref.model_id)]
    finally:
        await store.close()


async def test_blendbot_run_with_a_bad_token_exits_1(tmp_path: Path,
                                                     fake: FakeTelegram) -> None:
    from .run_cli import blendbot_run

    proc = await blendbot_run(tmp_path, fake, token="1:bad")
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert "TELEGRAM_TOKEN was rejected" in lines[-1] and "Traceback" not in err.decode()
    assert "1:bad" not in err.decode()
