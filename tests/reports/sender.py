"""A report sender in its own process (run by test_report_runs.py).

    python -m tests.reports.sender URL ENGINE_KWARGS_JSON POSTS_FILE NOW_ISO LEASE_S MODE

It moves its clock to NOW_ISO (ticking), runs a ReportService over the database at URL, and
appends "community-channel" lines to POSTS_FILE for every report its sink is handed. MODE
"hang" never returns from the sink (the platform call that never finishes: the test kills the
process there); "ok" returns at once (the platform accepted it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

import time_machine

from bot.reports.scheduler import ReportService
from bot.storage import Store


async def main(url: str, kwargs: str, posts: Path, lease_s: float, mode: str) -> None:
    store = Store(url, **json.loads(kwargs))
    await store.open()
    reports = ReportService(store, poll_s=0.1, lease_s=lease_s)

    async def sink(channel: str, text: str, png: bytes | None) -> None:
        with posts.open("a") as f:
            f.write(f"{channel}\n")
        if mode == "hang":
            await asyncio.Event().wait()

    reports.register_sink("discord", sink)
    await reports.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    url, kwargs, posts, now, lease, mode = sys.argv[1:7]
    with time_machine.travel(datetime.fromisoformat(now), tick=True):
        asyncio.run(main(url, kwargs, Path(posts), float(lease), mode))
