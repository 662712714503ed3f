"""Two `blendbot run` processes (shards 0-1/4 and 2-3/4) starting together over one Redis
identify at most once per `max_concurrency` bucket every 5 s, as Discord requires."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

from tests.adapters.discord.conftest import until
from tests.adapters.discord.test_run import blendbot_run
from tests.bot.test_shared_limits import REDIS_URL, needs_redis
from tests.fakes.discord_api import FakeDiscord


@needs_redis
async def test_two_processes_identify_once_per_bucket_every_5_s(tmp_path: Path,
                                                                 fake: FakeDiscord) -> None:
    fake.valid_token = f"token-{uuid.uuid4().hex}"  # this bot's own identify locks in Redis
    fake.max_concurrency = 2  # buckets: shards 0 and 2; shards 1 and 3
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    procs = [await blendbot_run(tmp_path / name, fake, fake.valid_token,
                                BLENDBOT_DISCORD_SHARDS=shards, BLENDBOT_REDIS_URL=REDIS_URL)
             for name, shards in (("a", "0-1/4"), ("b", "2-3/4"))]
    try:
        await until(lambda: len(fake.identified_at) == 4, 90)
    finally:
        for proc in procs:
            proc.terminate()
        errs = [(await asyncio.wait_for(p.communicate(), 30))[1] for p in procs]
    assert sorted(s for s, _ in fake.identified_at) == [0, 1, 2, 3]
    at = dict(fake.identified_at)
    for a, b in ((0, 2), (1, 3)):  # one bucket, two processes: 5 s apart
        assert abs(at[a] - at[b]) >= 4.9, fake.identified_at
    # different buckets do not wait for each other: all four within about one interval
    assert max(at.values()) - min(at.values()) < 9.0, fake.identified_at
    for err in errs:
        assert b"Traceback" not in err, err.decode()[-2000:]


async def test_redis_away_the_process_still_identifies_and_says_so_once(
        tmp_path: Path, fake: FakeDiscord) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    proc = await blendbot_run(tmp_path, fake, fake.valid_token,
                              BLENDBOT_DISCORD_SHARDS="0-1/2", BLENDBOT_REDIS_URL=dead)
    try:
        await until(lambda: len(fake.identified_at) == 2, 60)  # discord.py's own pacing
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert err.decode().count("Redis is unreachable") == 1, err.decode()[-2000:]
    assert b"Traceback" not in err
