"""`blendbot bench report [--users N]`: import a synthetic community, then build its report.

Import and report each run in a child process, so that their peak memory is their own.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.analytics import format_events
from bot.analytics.synthetic import SyntheticCommunity, generate

DEFAULT_USERS = 25_000


async def report_bench(users: int | None, say: Callable[[str], None]) -> dict[str, Any]:
    spec = SyntheticCommunity(users=users or DEFAULT_USERS, seed=1, community="bench")
    with tempfile.TemporaryDirectory() as tmp:
        path, db = Path(tmp) / "events.jsonl", Path(tmp) / "bench.db"
        events = 0
        with path.open("w", encoding="utf-8") as f:
            for line in format_events(generate(spec)):
                f.write(line)
                events += 1
        say(f"{events} events for {spec.users} users")
        imp = await asyncio.to_thread(_child, "import", db, path, spec)
        say(f"import: {imp['seconds']:.1f} s, {imp['peak_mb']:.0f} MB")
        rep = await asyncio.to_thread(_child, "report", db, path, spec)
        say(f"report: {rep['seconds']:.1f} s, {rep['peak_mb']:.0f} MB")
    return {"users": spec.users, "events": events, "import_s": round(imp["seconds"], 2),
            "import_peak_mb": round(imp["peak_mb"], 1), "report_s": round(rep["seconds"], 2),
            "report_peak_mb": round(rep["peak_mb"], 1), "zeta": rep["zeta"],
            "true_zeta": spec.zeta}


def _child(step: str, db: Path, path: Path, spec: SyntheticCommunity) -> dict[str, Any]:
    args = [sys.executable, "-m", "bot.bench_report", step, str(db), str(path),
            spec.since.isoformat(), spec.until.isoformat()]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def _step(step: str, db: str, path: str, since: str, until: str) -> dict[str, Any]:
    from datetime import datetime

    from bot.cli_analytics import _import
    from bot.reports.build import community_report
    from bot.storage import Store

    store = Store(f"sqlite+aiosqlite:///{db}")
    await store.open()
    t0 = time.perf_counter()
    zeta = None
    if step == "import":
        await _import(store, Path(path))
    else:
        built = await community_report(store, "discord", "bench", datetime.fromisoformat(since),
                                       datetime.fromisoformat(until), chart=False)
        zeta = built.report.fit.zeta
    seconds = time.perf_counter() - t0
    await store.close()
    peak = _peak_mb()
    return {"seconds": seconds, "peak_mb": peak, "zeta": zeta}


def _peak_mb() -> float:
    """This process's peak RSS: VmHWM starts afresh at exec, unlike ru_maxrss, which keeps
    the forking parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_step(*sys.argv[1:6]))))
