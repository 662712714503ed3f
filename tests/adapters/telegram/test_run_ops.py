"""`blendbot run` on Telegram with JSON logs and metrics: ids in the log, never text or tokens."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.ops.postgres import free_port

from .run_cli import blendbot_run, member_and_admin_flow

TOKEN = "7123456789:AAH-telegram-secret-token-value_xyz"
USER_TEXTS = ("Hi! Who are you?", "tell me about tea", "nobody asked the bot")


@pytest.mark.model
async def test_a_whole_telegram_conversation_logs_json_without_text_or_token(
        data_dir: Path, fake: FakeTelegram) -> None:
    fake.token = TOKEN
    port = free_port()
    proc = await blendbot_run(data_dir, fake, TOKEN, BLENDBOT_LOG_FORMAT="json",
                              BLENDBOT_LOG_LEVEL="INFO", BLENDBOT_METRICS_PORT=str(port),
                              BLENDBOT_METRICS_HOST="127.0.0.1")
    try:
        await member_and_admin_flow(fake)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                assert ready.status == 200, await ready.text()
            async with http.get(f"http://127.0.0.1:{port}/metrics") as metrics:
                text = await metrics.text()
        assert 'blendbot_replies_total{mode="uniform",model=' in text
        assert 'platform="telegram"' in text
    finally:
        if proc.returncode is None:
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 20)
    log = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    replies = [r for r in records if r.get("event") == "reply sent"]
    assert len(replies) >= 2 and all(r["model"] and r["channel"] and r["community"]
                                     and r["request"] for r in replies)
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
    for text in USER_TEXTS:
        assert text not in log
