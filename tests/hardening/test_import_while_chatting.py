"""Issue 13, case 5: a big `blendbot analytics import` never makes a live chat reply fail;
a lock that outlasts the busy timeout gets the core's apology and the message is kept."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.conversation.stages.respond import APOLOGY

CHAT = ("chat", "--mode", "single", "--model", "smollm2-135m", "--max-tokens", "4",
        "--seed", "1")


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    env.pop("DISCORD_TOKEN", None)
    env.pop("TELEGRAM_TOKEN", None)
    return env | {"BLENDBOT_DATA_DIR": str(data)} | extra


class Chat:
    """`blendbot chat` in a subprocess, one line in, one reply line out."""

    def __init__(self, data: Path, **env: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", *CHAT], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=_env(data, **env), cwd=data)

    def say(self, text: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().rstrip("\n")

    def close(self) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, err


def _history(data: Path) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "bot", "history", "console", "--json"],
                         capture_output=True, text=True, env=_env(data), cwd=data, check=True)
    return [m["text"] for m in json.loads(run.stdout) if m["role"] == "user"]


def _events(path: Path, count: int) -> None:
    with path.open("w") as f:
        for i in range(count):
            f.write(json.dumps({
                "type": "message", "id": f"m{i}", "ts": f"2026-10-{1 + i % 28:02d}T10:00:00Z",
                "platform": "discord", "community": "big-guild", "channel": f"c{i % 200}",
                "user": f"u{i % 3000}", "role": ("user", "bot")[i % 2],
                "model": (None, "smollm2-135m")[i % 2], "text": "hello there " * 5}) + "\n")


@pytest.mark.model
def test_a_big_import_never_fails_a_live_reply(data_dir: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    _events(events, 60_000)
    chat = Chat(data_dir)
    assert chat.say("hello") not in ("", APOLOGY)  # started, the model is loaded
    importing = subprocess.Popen([sys.executable, "-m", "bot", "analytics", "import",
                                  str(events)], text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=_env(data_dir), cwd=data_dir)
    said = ["hello"]
    while importing.poll() is None or len(said) < 4:
        said.append(f"message {len(said)}")
        reply = chat.say(said[-1])
        assert reply and reply != APOLOGY, f"turn {len(said)} failed during the import"
    out, err = importing.communicate()
    assert importing.returncode == 0, err
    assert "imported 60000 events" in out
    code, err = chat.close()
    assert code == 0 and "database is locked" not in err, err
    assert _history(data_dir) == said


@pytest.mark.model
def test_a_lasting_lock_gets_the_apology_and_the_message_is_kept(data_dir: Path) -> None:
    chat = Chat(data_dir, BLENDBOT_DATABASE_BUSY_TIMEOUT_S="1")
    assert chat.say("hello") not in ("", APOLOGY)
    holder = sqlite3.connect(data_dir / "blendbot.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program keeps the write lock
    try:
        assert chat.say("while it is locked") == APOLOGY
    finally:
        holder.execute("ROLLBACK")
    assert chat.say("after") not in ("", APOLOGY)
    code, err = chat.close()
    assert code == 1  # a piped chat with a failed turn exits 1
    failed = [line for line in err.splitlines() if "turn failed" in line]
    assert len(failed) == 1 and "database is locked" in failed[0], err
    assert "Traceback" not in err, err  # the traceback is for log_level DEBUG
    assert _history(data_dir) == ["hello", "while it is locked", "after"]
