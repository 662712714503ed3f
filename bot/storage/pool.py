"""How a networked database's pooled connections are checked, and run in autocommit.

* A connection is pinged before use only when it sat idle in the pool for `PING_IDLE_S`
  (a server restart, a dropped link): one that was used a moment ago is trusted. SQLAlchemy's
  `pool_pre_ping` pings at every checkout; on asyncpg that ping is a transaction of its own
  (BEGIN, `;`, ROLLBACK: three round trips), which was most of a busy turn's database time.
  A connection that broke within that moment fails its statement instead: SQLAlchemy then
  drops it and every connection older than it, as with any disconnect.
* Reads and one-statement writes run in autocommit (`reader`, through `Store.autocommit`): one
  round trip each, not three (BEGIN, the statement, ROLLBACK or COMMIT). PostgreSQL's default
  isolation, READ COMMITTED, takes a fresh snapshot for every statement anyway, so a read sees
  the same with or without the transaction around it.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

PING_IDLE_S = 1.0
_IDLE_SINCE = "blendbot_idle_since"


def ping_when_idle(engine: AsyncEngine, idle_s: float | None = None) -> None:
    """Ping a connection at checkout when it was idle for `idle_s` (`PING_IDLE_S`) or more;
    a failed ping makes the pool connect again (SQLAlchemy's pessimistic disconnect
    handling)."""
    idle = PING_IDLE_S if idle_s is None else idle_s
    sync = engine.sync_engine
    dialect = sync.dialect

    def fresh(_dbapi: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < idle:
            return
        try:
            dialect.do_ping(dbapi)
        except Exception as exc:
            raise DisconnectionError(f"connection lost while idle: {exc}") from exc

    event.listen(sync.pool, "connect", fresh)
    event.listen(sync.pool, "checkin", fresh)
    event.listen(sync.pool, "checkout", checkout)


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, its connections in autocommit while checked out through it."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")
