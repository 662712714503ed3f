"""Issue 13, case 4: processes starting together on a fresh data dir all succeed (the
migration runs once, under a file lock)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.storage.schema import head

# Import everything first, then start at one agreed instant: the migrations overlap.
_TOGETHER = """
import sys, time
from bot.cli import main
import bot.storage.schema, bot.app
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
sys.exit(main(sys.argv[2:]))
"""


def start_together(data_dir: Path, count: int, *args: str, env: dict[str, str] | None = None,
                   lead_s: float = 6.0) -> list[tuple[int, str, str]]:
    """Run `blendbot ARGS` in `count` processes that begin at the same instant."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    base |= {"BLENDBOT_DATA_DIR": str(data_dir)} | (env or {})
    at = str(time.time() + (lead_s if count > 1 else 0.0))
    runs = [subprocess.Popen([sys.executable, "-c", _TOGETHER, at, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=base, cwd=data_dir.parent) for _ in range(count)]
    out = []
    for p in runs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


def test_processes_starting_together_on_a_fresh_data_dir_all_start(tmp_path: Path) -> None:
    for code, _, err in start_together(tmp_path / "data", 6, "history", "console"):
        assert (code, err) == (1, "no conversation named 'console'\n")  # started, one line
    db = sqlite3.connect(tmp_path / "data" / "blendbot.db")
    assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
