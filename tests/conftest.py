from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.storage import Store
from engines.llamacpp import LlamaCppModel
from engines.registry import DEFAULT_MODELS, build_model
from tests.fakes.tcp_proxy import TcpProxy

POSTGRES_URL = os.environ.get("BLENDBOT_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir shared by the session, so Gemma is assembled once."""
    return tmp_path_factory.mktemp("blendbot-data")


def _default(model_id: str, data_dir: Path) -> LlamaCppModel:
    spec = next(m for m in DEFAULT_MODELS if m.id == model_id)
    model = build_model(spec, data_dir)
    assert isinstance(model, LlamaCppModel)
    return model


@pytest.fixture(scope="session")
def smollm2(model_dir: Path) -> LlamaCppModel:
    return _default("smollm2-135m", model_dir)


@pytest.fixture(scope="session")
def gemma(model_dir: Path) -> LlamaCppModel:
    return _default("gemma3-270m", model_dir)


def _store_params() -> list[object]:
    params: list[object] = ["sqlite"]
    params.append(
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="BLENDBOT_TEST_POSTGRES_URL not set"
            ),
        )
    )
    return params


@dataclass(frozen=True)
class Database:
    url: str
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def store(self) -> Store:
        return Store(self.url, **self.engine_kwargs)


@pytest.fixture(params=_store_params())
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database: a SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{tmp_path / 'blendbot.db'}")
        return
    import asyncpg

    assert POSTGRES_URL is not None
    schema = f"bbtest_{uuid.uuid4().hex[:10]}"
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Database(
            POSTGRES_URL, {"connect_args": {"server_settings": {"search_path": schema}}}
        )
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    s = database.store()
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def data_dir(tmp_path: Path, model_dir: Path, gemma: LlamaCppModel) -> Path:
    """A fresh data dir whose models/ is the session's (Gemma assembled once)."""
    gemma.source.resolve()
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_dir / "models", target_is_directory=True)
    return data


@pytest.fixture
async def pg_behind_proxy() -> AsyncIterator[tuple[Database, TcpProxy]]:
    """A fresh PostgreSQL database reached through a proxy that can be cut."""
    if not POSTGRES_URL:
        pytest.skip("BLENDBOT_TEST_POSTGRES_URL not set")
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    name = f"bbtest_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    try:
        yield Database(url.set(host="127.0.0.1", port=proxy.port, database=name)
                       .render_as_string(hide_password=False),
                       {"connect_args": {"timeout": 2}}), proxy
    finally:
        await proxy.down()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
