"""Run `blendbot` in a subprocess that SIGKILLs itself before its Nth SQL statement: a real
kill -9 at a chosen point of the real migration code (0: run to the end, print the count)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_KILLER = """
import atexit, os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

at, seen = int(os.environ["KILL_AT_STATEMENT"]), [0]

@event.listens_for(Engine, "before_cursor_execute")
def _count(*_args):
    seen[0] += 1
    if seen[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)

atexit.register(lambda: print(f"statements={seen[0]}", file=sys.stderr))
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_killed(data_dir: Path, at: int, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    base |= {"BLENDBOT_DATA_DIR": str(data_dir), "KILL_AT_STATEMENT": str(at)} | (env or {})
    return subprocess.run([sys.executable, "-c", _KILLER, *args], capture_output=True,
                          text=True, env=base, cwd=data_dir, timeout=120, check=False)


def statements(run: subprocess.CompletedProcess[str]) -> int:
    line = next(x for x in run.stderr.splitlines() if x.startswith("statements="))
    return int(line.split("=")[1])
