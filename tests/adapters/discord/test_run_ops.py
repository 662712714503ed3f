"""`blendbot run` as an operator runs it: metrics, health endpoints and JSON logs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.adapters.discord.conftest import until
from tests.adapters.discord.test_run import blendbot_run
from tests.fakes.discord_api import FakeDiscord
from tests.ops.postgres import free_port, postgres_server

TOKEN = "MTE5OTk.secret-discord-token.XyZ"
SECRET_TEXT = "my cat is called Zanzibar-7731"


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(total=10)) as r:
        return r.status, await r.text()


def samples(exposition: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            found.setdefault(s.name, []).append((s.labels, s.value))
    return found


@pytest.mark.model
async def test_run_exports_metrics_health_and_json_logs(data_dir: Path, fake: FakeDiscord,
                                                       tmp_path: Path) -> None:
    fake.valid_token = TOKEN
    port = free_port()
    with postgres_server() as pg:
        proc = await blendbot_run(data_dir, fake, TOKEN, BLENDBOT_METRICS_PORT=str(port),
                                  BLENDBOT_METRICS_HOST="127.0.0.1",
                                  BLENDBOT_DATABASE_URL=pg.url,
                                  BLENDBOT_DATABASE_UPGRADE_ON_START="true",
                                  BLENDBOT_LOG_FORMAT="json",
                                  BLENDBOT_LOG_LEVEL="INFO")
        try:
            await asyncio.wait_for(fake.ready.wait(), 60)
            await fake.user_says(f"Hello! Remember this: {SECRET_TEXT}", mention=True)
            await until(lambda: any(not m["content"].endswith(" …") and m["components"]
                                    for m in fake.bot_messages(fake.channel_id)), 180)

            status, text = await get(port, "/metrics")
            assert status == 200
            found = samples(text)
            replies = found["blendbot_replies_total"]
            assert any(labels["platform"] == "discord" and labels["model"] and value >= 1
                       for labels, value in replies), replies
            for histogram in ("blendbot_reply_first_token_seconds",
                              "blendbot_reply_seconds"):
                counts = [v for labels, v in found[f"{histogram}_count"] if v > 0]
                assert counts, f"{histogram} saw no reply"
            assert {lb["model"] for lb, v in found["blendbot_model_healthy"] if v == 1}
            assert SECRET_TEXT not in text and "channel" not in text.split("# HELP")[0]

            assert (await get(port, "/livez"))[0] == 200
            for _ in range(100):  # the gateway's connect event may still be on its way
                status, body = await get(port, "/readyz")
                if status == 200:
                    break
                await asyncio.sleep(0.2)
            assert status == 200, body
            assert json.loads(body) == {"ready": True, "database": True, "platforms": True,
                                        "models": True}

            pg.stop()  # the database goes away
            status, body = await get(port, "/readyz")
            assert status == 503 and json.loads(body)["database"] is False, body
            assert (await get(port, "/livez"))[0] == 200  # alive, only not ready
        finally:
            proc.terminate()
            _, err = await asyncio.wait_for(proc.communicate(), 30)
    log = err.decode()
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(r.get("event", "").startswith("blendbot serving") for r in records), log[-2000:]
    assert TOKEN not in log
    assert SECRET_TEXT not in log and "Zanzibar" not in log
    replied = [r for r in records if r.get("event") == "reply sent"]
    assert replied and replied[0]["model"] and replied[0]["channel"] and replied[0]["community"]


async def test_a_metrics_port_in_use_is_one_line_exit_1(tmp_path: Path,
                                                        fake: FakeDiscord) -> None:
    port = free_port()
    holder = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        proc = await blendbot_run(tmp_path, fake, fake.valid_token,
                                  BLENDBOT_METRICS_PORT=str(port),
                                  BLENDBOT_METRICS_HOST="127.0.0.1")
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        holder.close()
    assert proc.returncode == 1, err.decode()
    lines = err.decode().strip().splitlines()
    assert lines == [lines[-1]] and lines[-1].startswith("blendbot: error:"), lines
    assert f"BLENDBOT_METRICS_PORT {port}" in lines[-1]
