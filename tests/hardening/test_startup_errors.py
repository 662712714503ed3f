"""Issue 13, case 8: an unusable database, data dir, setting or platform at start is one line
naming the cause and the fix, exit 1, never a traceback."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clirun import blendbot


def _one_line(run: subprocess.CompletedProcess[str], *words: str) -> None:
    assert run.returncode == 1, run.stderr
    err = run.stderr
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("blendbot: "), err
    for word in words:
        assert word in err, err


def _with_env(data: Path, env: dict[str, str], *args: str,
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    base |= {"BLENDBOT_DATA_DIR": str(data)} | env
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          env=base, cwd=cwd or data.parent, timeout=120, check=False)


@pytest.mark.parametrize(("url", "words"), [
    ("not a url at all", ("BLENDBOT_DATABASE_URL", "sqlite+aiosqlite:///")),
    ("foo://nowhere/x", ("not a database URL",)),
    ("sqlite:///plain.db", ("not an asyncio driver", "sqlite+aiosqlite")),
    ("postgresql+asyncpg://bot:s3cret@127.0.0.1:9/bot", ("127.0.0.1:9", "server runs")),
])
def test_bad_database_url_is_one_line(tmp_path: Path, url: str,
                                      words: tuple[str, ...]) -> None:
    run = _with_env(tmp_path / "data", {"BLENDBOT_DATABASE_URL": url}, "history", "x")
    _one_line(run, *words)
    assert "s3cret" not in run.stderr


def _started(data: Path) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    first = blendbot(data, "history", "x")  # a first start makes the schema
    assert first.stderr == "no conversation named 'x'\n", first.stderr
    return data / "blendbot.db"


@pytest.mark.parametrize(("damage", "words"), [
    ("UPDATE alembic_version SET version_num = '0042'", ("revision 0042", "newer")),
    ("DROP TABLE alembic_version", ("no schema version", "backup")),
    ("ALTER TABLE messages DROP COLUMN latency_ms", ("messages lacks column latency_ms",)),
])
def test_schema_drift_is_one_line(tmp_path: Path, damage: str, words: tuple[str, ...]) -> None:
    db = _started(tmp_path / "data")
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO communities (platform, external_id, name, created_at) "
                  "VALUES ('console', 'c', 'c', '2026-01-01 00:00:00')")
        c.execute(damage)
    _one_line(blendbot(tmp_path / "data", "history", "x"), *words)


def test_data_dir_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    run = _with_env(tmp_path / "file" / "data", {}, "chat", cwd=tmp_path)
    _one_line(run, "not a directory", "BLENDBOT_DATA_DIR")


def _tiny_files() -> None:  # a full disk: writes past 16 KB fail (EFBIG), no signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))


def test_full_disk_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDBOT_")}
    env["BLENDBOT_DATA_DIR"] = str(data)
    run = subprocess.run([sys.executable, "-m", "bot", "history", "x"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120, check=False,
                         preexec_fn=_tiny_files)
    _one_line(run, str(data / "blendbot.db"), "free space")


def test_unknown_log_level_is_one_line(tmp_path: Path) -> None:
    tmp_path.joinpath("data").mkdir()
    run = blendbot(tmp_path / "data", "history", "x", config='log_level = "LOUD"\n')
    _one_line(run, "log_level", "DEBUG, INFO, WARNING")


def test_discord_unreachable_at_start_is_one_line(tmp_path: Path) -> None:
    run = _with_env(tmp_path / "data", {"DISCORD_TOKEN": "MTIz.fake.token",
                                        "BLENDBOT_DISCORD_API_URL": "http://127.0.0.1:9/api"},
                    "run")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    last = run.stderr.splitlines()[-1]
    assert last.startswith("blendbot: error: cannot reach Discord at http://127.0.0.1:9/api")
    assert "MTIz.fake.token" not in run.stderr
