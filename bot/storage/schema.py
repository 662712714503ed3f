"""The database schema: Alembic migrations, atomic and one process at a time, and the check
that the schema on disk is the one this code expects.

SQLite runs every migration of an upgrade in one real transaction (`BEGIN IMMEDIATE`; the
driver's own transaction handling is off, so DDL is inside it): a kill at any point leaves
the database as it was before the upgrade. Processes take turns: a file lock next to the
database file on SQLite, a transaction-scoped advisory lock on PostgreSQL (whose DDL is
transactional anyway). Leftovers of the older, non-atomic upgrades (empty tables without a
version row, a `_alembic_tmp_*` table) are cleaned up inside that transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from engines.redact import redact

from .tables import Base

MIGRATIONS = Path(__file__).parent / "migrations"
ADVISORY_LOCK = int.from_bytes(b"blendbot", "big") >> 1  # one bigint key for all processes
LOCK_WAIT_S = 600.0
TMP_PREFIX = "_alembic_tmp_"
VERSION_TABLE = "alembic_version"
UPGRADE_HINT = "run `blendbot db upgrade`"


class DatabaseError(Exception):
    """The database cannot be used; the message (one line) names the cause and the fix."""


class SchemaError(DatabaseError):
    """The database's schema does not fit this code; the message names the cause and the fix."""


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What `upgrade` did: the revision found (None: an empty database) and the one left."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None: not SQLite, or in memory)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def sqlite_pragmas(busy_timeout_s: float, *, foreign_keys: bool = True) -> Callable[..., None]:
    """A `connect` listener: WAL, the busy timeout (first, so that even switching to WAL
    waits for a lock instead of failing), foreign keys, and secure deletes (a deleted row's
    bytes are overwritten with zeros, so forgotten text is not left readable in the file)."""
    busy_ms = max(0, int(busy_timeout_s * 1000))

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return on_connect


async def prepare(url: str, engine_kwargs: dict[str, Any], *, upgrade: bool,
                  busy_timeout_s: float, memory: AsyncEngine | None = None) -> Upgrade:
    """Bring the schema to this code's head (`upgrade`), or check that it is there.

    `memory`: the engine of an in-memory SQLite database, which only its own connection
    sees (no other process can share it: no lock, no separate migration connection).

    Raises `DatabaseError` (a `SchemaError` for a schema that does not fit) with one line."""
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    if memory is not None:
        async with memory.begin() as conn:
            return await conn.run_sync(_upgrade if upgrade else _check)
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if upgrade:
            return await _locked(path, lambda: _run(parsed, engine_kwargs, busy_timeout_s,
                                                    _upgrade))
        return await _run(parsed, engine_kwargs, busy_timeout_s, _check)
    except (OSError, SQLAlchemyError) as exc:
        raise DatabaseError(_unusable(parsed, path, exc)) from exc


URL_FORMS = "sqlite+aiosqlite:///PATH or postgresql+asyncpg://HOST:PORT/DB"


def parse_url(url: str) -> URL:
    """The URL, or a `DatabaseError` saying which forms work (never echoing the URL)."""
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise DatabaseError(f"database_url (BLENDBOT_DATABASE_URL) is not a database URL "
                            f"blendbot can use; use {URL_FORMS}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:  # the dialect is known, its driver not installed
        raise DatabaseError(f"the database driver '{parsed.drivername}' is not installed "
                            f"({exc.name}); install it, or use {URL_FORMS}") from None
    if not getattr(dialect, "is_async", False):
        raise DatabaseError(f"database_url names the driver '{parsed.drivername}', which is "
                            f"not an asyncio driver; use {URL_FORMS}")
    return parsed


def _unusable(url: URL, path: Path | None, exc: BaseException) -> str:
    """One line for a database that cannot be opened: what failed, and what to do."""
    orig = getattr(exc, "orig", None) or exc
    reason = (getattr(orig, "strerror", None) or str(orig) or type(orig).__name__)
    reason = redact(reason.splitlines()[0].strip())[:200]
    low = reason.lower()
    if path is None:
        port = f":{url.port}" if url.port else ""
        where = f"the database at {url.host or 'localhost'}{port}"
        fix = "check that the server runs and that BLENDBOT_DATABASE_URL is right"
    else:
        where = f"the database file {path}"
        fix = (f"make sure {path.parent} is a writable directory (set BLENDBOT_DATA_DIR "
               "to one)")
    if "full" in low or "no space" in low:
        fix = "free some disk space"
    elif "disk i/o" in low:
        fix = "check that the disk has free space and is writable"
    elif "read-only" in low or "readonly" in low:
        fix = f"make {path.parent if path else 'the database'} writable"
    return f"cannot open {where} ({reason}); {fix}"


async def _locked(path: Path | None, body: Callable[[], Any]) -> Any:
    if path is None:  # PostgreSQL & co: the advisory lock is taken inside the transaction
        return await body()
    from filelock import FileLock, Timeout

    lock = FileLock(f"{path}.lock", thread_local=False)
    try:
        await asyncio.to_thread(lock.acquire, timeout=LOCK_WAIT_S)
    except Timeout:
        raise SchemaError(f"another blendbot process has been migrating {path} for "
                          f"{LOCK_WAIT_S:.0f} s; wait for it or stop it") from None
    try:
        return await body()
    finally:
        lock.release()


async def _run(url: URL, engine_kwargs: dict[str, Any], busy_timeout_s: float,
               step: Callable[[Connection], Upgrade]) -> Upgrade:
    kwargs: dict[str, Any] = {"poolclass": NullPool}
    if "connect_args" in engine_kwargs:
        kwargs["connect_args"] = engine_kwargs["connect_args"]
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        pragmas = sqlite_pragmas(busy_timeout_s, foreign_keys=False)  # batch copies tables

        def on_connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # the driver opens no transaction itself
            pragmas(dbapi_connection, record)

        def on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # DDL included; the write lock at once

        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", on_begin)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": ADVISORY_LOCK})
            return await conn.run_sync(step)
    finally:
        await engine.dispose()


def _current(conn: Connection) -> str | None:
    heads = MigrationContext.configure(conn).get_current_heads()
    if len(heads) > 1:
        raise SchemaError(f"the database has several schema versions ({', '.join(heads)}); "
                          "restore it from a backup")
    if heads:
        known = ScriptDirectory.from_config(_config())
        try:
            known.get_revision(heads[0])
        except CommandError:
            raise SchemaError(
                f"the database's schema (revision {heads[0]}) is newer than this blendbot "
                f"(revision {head()}): run the newer blendbot, or upgrade this one") from None
    return heads[0] if heads else None


def _app_tables(conn: Connection) -> list[str]:
    return [t for t in inspect(conn).get_table_names() if t != VERSION_TABLE]


def _recover(conn: Connection, current: str | None) -> None:
    """Clean up what an interrupted non-atomic upgrade of older versions left behind."""
    tables = _app_tables(conn)
    for tmp in [t for t in tables if t.startswith(TMP_PREFIX)]:
        if tmp.removeprefix(TMP_PREFIX) not in tables:
            raise SchemaError(f"an interrupted upgrade left table {tmp} in place of "
                              f"{tmp.removeprefix(TMP_PREFIX)}; restore the database from a "
                              "backup")
        conn.exec_driver_sql(f'DROP TABLE "{tmp}"')  # the original is intact
        tables.remove(tmp)
    ours = [t for t in tables if t in Base.metadata.tables]  # others' tables: not ours
    if current is not None or not ours:
        return
    filled = [t for t in ours
              if conn.exec_driver_sql(f'SELECT 1 FROM "{t}" LIMIT 1').first() is not None]
    if filled:
        raise SchemaError(
            f"the database has blendbot's tables ({', '.join(sorted(filled)[:3])}) but no "
            "schema version (its alembic_version table was dropped?); restore it from a "
            "backup, or move it away to start afresh")
    for table in reversed(Base.metadata.sorted_tables):  # empty: a first start cut short
        if table.name in ours:
            conn.exec_driver_sql(f'DROP TABLE "{table.name}"')


def _drift(conn: Connection) -> None:
    """Every table and column this code uses is there (a hand-edited schema is named)."""
    found = inspect(conn)
    tables = set(found.get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in tables:
            raise SchemaError(f"the database lacks table {table.name} although its schema "
                              f"version says {head()}; restore it from a backup")
        columns = {c["name"] for c in found.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in columns]
        if missing:
            raise SchemaError(f"the database's table {table.name} lacks column {missing[0]} "
                              "(the schema was changed by hand); restore it from a backup")


def _upgrade(conn: Connection) -> Upgrade:
    before = _current(conn)
    _recover(conn, before)
    target = head()
    if before != target:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    _drift(conn)
    return Upgrade(before, target)


def _check(conn: Connection) -> Upgrade:
    current = _current(conn)
    target = head()
    if current is None:
        raise SchemaError(f"the database has no schema yet; {UPGRADE_HINT}")
    if current != target:
        raise SchemaError(f"the database's schema (revision {current}) is behind this "
                          f"blendbot (revision {target}); {UPGRADE_HINT}")
    _drift(conn)
    return Upgrade(current, current)
