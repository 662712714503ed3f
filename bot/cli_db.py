"""`blendbot db upgrade`: bring the database schema to this code's version (safe to run from
several processes at once: they take turns, and the upgrade happens once)."""

from __future__ import annotations

import argparse
from typing import Any

from .config import Settings
from .storage import schema


def add_parsers(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema: upgrade it (a deployment step)")
    dsub = db.add_subparsers(dest="db_command", required=True)
    dsub.add_parser("upgrade", help="migrate the database to this version's schema")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from .database import engine_options

    done = await schema.prepare(settings.database, engine_options(settings), upgrade=True,
                                busy_timeout_s=settings.database_busy_timeout_s)
    if not done.changed:
        print(f"database schema is up to date (revision {done.after})")
    elif done.before is None:
        print(f"database schema created (revision {done.after})")
    else:
        print(f"database schema upgraded from revision {done.before} to {done.after}")
    return 0
