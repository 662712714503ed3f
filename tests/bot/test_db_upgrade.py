"""`blendbot db upgrade`: several at once all succeed and upgrade once; a start against a
schema older or newer than the code says so in one line and exits 1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.storage.schema import head
from tests.hardening.test_concurrent_start import start_together

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not _pg_reachable(), reason="no PostgreSQL on 127.0.0.1:5432"))])
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment a process needs for a fresh database (SQLite, or a new PG database)."""
    if request.param == "sqlite":
        yield {}
        return
    import psycopg

    name = f"bbtest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"BLENDBOT_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"}
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _run(data: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return start_together(data, 1, *args, env=env)[0]


def test_two_upgrades_at_once_both_succeed_and_upgrade_once(
        tmp_path: Path, database_env: dict[str, str]) -> None:
    runs = start_together(tmp_path / "data", 2, "db", "upgrade", env=database_env)
    assert [code for code, _, _ in runs] == [0, 0], runs
    said = sorted(out.strip() for _, out, _ in runs)
    assert said == [f"database schema created (revision {head()})",
                    f"database schema is up to date (revision {head()})"]


def test_start_against_a_schema_ahead_or_behind_is_one_line(
        tmp_path: Path, database_env: dict[str, str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if database_env:  # PostgreSQL: a start does not migrate, it says what to run
        code, _, err = _run(data, database_env, "history", "console")
        assert (code, err) == (1, "blendbot: error: the database has no schema yet; "
                                  "run `blendbot db upgrade`\n")
    assert _run(data, database_env, "db", "upgrade")[0] == 0
    _set_version(data, database_env, "0099")  # written by a newer blendbot
    for args in (("history", "console"), ("db", "upgrade")):
        code, _, err = _run(data, database_env, *args)
        assert code == 1 and err.count("\n") == 1, err
        assert f"(revision 0099) is newer than this blendbot (revision {head()})" in err
    if database_env:
        _set_version(data, database_env, "0005")  # older than the code
        code, _, err = _run(data, database_env, "history", "console")
        assert (code, err) == (1, f"blendbot: error: the database's schema (revision 0005) "
                                  f"is behind this blendbot (revision {head()}); run "
                                  "`blendbot db upgrade`\n")


def _set_version(data: Path, env: dict[str, str], version: str) -> None:
    if not env:
        import sqlite3

        with sqlite3.connect(data / "blendbot.db") as c:
            c.execute("UPDATE alembic_version SET version_num = ?", (version,))
        return
    import psycopg

    url = env["BLENDBOT_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = %s", (version,))


async def test_pool_size_and_timeouts_come_from_the_config(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.database import store_for

    settings = load_settings(data_dir=tmp_path, database_pool_size=3,
                             database_max_overflow=1, database_pool_timeout_s=2.5,
                             database_busy_timeout_s=0.5)
    store = store_for(settings)
    await store.open()
    try:
        pool = store.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 1, 2.5)  # type: ignore[attr-defined]
        async with store.engine.connect() as conn:
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert busy == 500
    finally:
        await store.close()
