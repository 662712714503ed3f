"""Run the `blendbot` command the way a user does: a subprocess with its own data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def blendbot(data_dir: Path, *args: str, stdin: str = "", config: str | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    env.pop("DISCORD_TOKEN", None)
    env.pop("TELEGRAM_TOKEN", None)
    env["BLENDBOT_DATA_DIR"] = str(data_dir)
    if config is not None:
        path = data_dir / "blendbot.toml"
        path.write_text(config)
        env["BLENDBOT_CONFIG"] = str(path)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
        env=env, cwd=data_dir, timeout=timeout, check=False,
    )
