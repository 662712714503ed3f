"""The `Store` the settings describe: URL, pool, timeouts, and whether a start migrates."""

from __future__ import annotations

from typing import Any

from .config import Settings
from .storage import Store
from .storage.schema import parse_url


def engine_options(settings: Settings) -> dict[str, Any]:
    """SQLAlchemy engine arguments for `settings.database` (pool size and timeouts)."""
    url = parse_url(settings.database)  # a bad URL: `DatabaseError`, one line
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return {}  # one connection in memory: no pool to size
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout_s,
    }
    if url.get_backend_name() != "sqlite":  # the Store pings connections that sat idle
        options["pool_use_lifo"] = True  # the one used last: idle ones stay idle (and close)
    if url.get_driver_name() == "asyncpg":
        options["connect_args"] = {"timeout": settings.database_connect_timeout_s}
    return options


def store_for(settings: Settings, *, upgrade: bool | None = None) -> Store:
    """A `Store` (not yet open) over the configured database; `upgrade` None: as configured."""
    return Store(settings.database,
                 upgrade=settings.upgrades_on_start if upgrade is None else upgrade,
                 busy_timeout_s=settings.database_busy_timeout_s,
                 **engine_options(settings))
