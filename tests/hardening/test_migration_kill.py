"""Issue 13, case 3: kill -9 at any point of a first start or of an upgrade of a database
with data never bricks it: every later start succeeds and the data is intact."""

from __future__ import annotations

import shutil
import signal
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from bot.storage import Store
from bot.storage.schema import MIGRATIONS, head
from tests.clirun import blendbot
from tests.hardening.killrun import run_killed, statements

POINTS = 5  # kills per scenario, spread over the statements of the migration


def _spread(total: int) -> list[int]:
    return sorted({max(2, round(total * (i + 1) / (POINTS + 1))) for i in range(POINTS)})


async def _starts_with(db: Path, texts: list[str]) -> None:
    store = Store(f"sqlite+aiosqlite:///{db}")
    await store.open()  # a later start: must succeed
    try:
        found = await store.find_channel("console", "old")
        got = [m.text for m in await store.history(found.id)] if found else []
        assert got == texts
        ch = await store.ensure_channel("console", "console", "console", "new", "new")
        await store.add_message(ch.id, "user", "still works")
    finally:
        await store.close()
    assert sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall() \
        == [(head(),)]


async def test_kill_during_first_start_never_bricks(tmp_path: Path) -> None:
    full = run_killed(tmp_path / "probe", 0, "history", "old")
    assert full.returncode == 1 and "no conversation named 'old'" in full.stderr
    for at in _spread(statements(full)):
        data = tmp_path / f"kill{at}"
        data.mkdir()
        killed = run_killed(data, at, "history", "old")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        await _starts_with(data / "blendbot.db", [])
    again = blendbot(data, "history", "new", "--json")
    assert again.returncode == 0 and "still works" in again.stdout


def _old_database(db: Path) -> None:
    """A database at revision 0001 (the first release) holding one conversation."""
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO communities (platform, external_id, name, created_at) "
                  "VALUES ('console', 'console', 'console', '2026-01-01 00:00:00')")
        c.execute("INSERT INTO channels (community_id, platform, external_id, name, mode, "
                  "created_at) VALUES (1, 'console', 'old', 'old', 'single', "
                  "'2026-01-01 00:00:00')")
        for i, text in enumerate(("hello", "hi there")):
            c.execute("INSERT INTO messages (channel_id, role, text, created_at) VALUES "
                      f"(1, '{('user', 'assistant')[i]}', '{text}', '2026-01-01 00:00:0{i}')")


async def test_kill_during_upgrade_keeps_the_data(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    _old_database(old)
    probe = tmp_path / "probe"
    probe.mkdir()
    shutil.copy(old, probe / "blendbot.db")
    full = run_killed(probe, 0, "history", "old")
    assert full.returncode == 0, full.stderr  # the upgrade itself keeps the conversation
    assert "hello" in full.stdout and "hi there" in full.stdout
    for at in _spread(statements(full)):
        data = tmp_path / f"kill{at}"
        data.mkdir()
        shutil.copy(old, data / "blendbot.db")
        killed = run_killed(data, at, "history", "old")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        await _starts_with(data / "blendbot.db", ["hello", "hi there"])


async def test_leftovers_of_older_versions_are_cleaned_up(tmp_path: Path) -> None:
    """What the non-atomic upgrades of older versions left on users' disks."""
    cut_short = tmp_path / "first.db"  # a first start killed: empty tables, no version row
    with sqlite3.connect(cut_short) as c:
        c.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        c.execute("CREATE TABLE communities (id INTEGER PRIMARY KEY, platform VARCHAR(16))")
    await _starts_with(cut_short, [])

    tmp_table = tmp_path / "upgrade.db"  # an upgrade killed after its copy table was made
    _old_database(tmp_table)
    with sqlite3.connect(tmp_table) as c:
        c.execute("CREATE TABLE _alembic_tmp_channels (id INTEGER PRIMARY KEY)")
    await _starts_with(tmp_table, ["hello", "hi there"])
