"""`blendbot bench load`, short: 4 `blendbot run` processes (2 Discord shard ranges, 2
Telegram webhook workers behind a balancer) on the real PostgreSQL and Redis, one of them
killed with SIGKILL and started again; every message answered once, in order, every
community's due report sent once."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.bench_load import load
from bot.config import ConfigError, Settings
from tests.conftest import POSTGRES_URL

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


async def test_bench_load_needs_postgres_and_redis(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs PostgreSQL"):
        await load(Settings(data_dir=tmp_path), 5, print)
    with pytest.raises(ConfigError, match="needs Redis"):
        await load(Settings(data_dir=tmp_path, database_url="postgresql+asyncpg://x@h/db"),
                   5, print)
    with pytest.raises(ConfigError, match="--think-s must be above 0"):
        await load(Settings(data_dir=tmp_path), 5, print, think_s=0)


@pytest.mark.skipif(not POSTGRES_URL, reason="BLENDBOT_TEST_POSTGRES_URL not set")
@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
async def test_short_load_run_answers_every_message_once_in_order(tmp_path: Path) -> None:
    assert POSTGRES_URL is not None
    lines: list[str] = []
    settings = Settings(data_dir=tmp_path, database_url=POSTGRES_URL, redis_url=REDIS_URL)
    result = await load(settings, 10, lines.append, channels=24, think_s=5.0)
    print(lines, result)
    assert result["think_s"] == 5.0 and result["messages_per_s"] > 0
    assert result["processes"] == 4 and result["killed"] == 1
    assert result["channels"] == 24 and result["messages"] >= 24
    assert result["duplicated"] == 0 and result["out_of_order"] == 0
    assert result["lost"] == result["in_flight_at_kill"]  # see the README: Scale out
    assert result["reports_sent"] == result["reports_expected"] == 16
