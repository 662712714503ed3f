"""The operator's HTTP endpoints on `BLENDBOT_METRICS_PORT`: `/metrics`, `/livez`, `/readyz`.

`/livez` answers from the event loop itself (a stuck loop does not answer). `/readyz` is 200
only while the database answers, every configured platform is connected and at least one
model may be drawn; otherwise 503 with the failing checks, as JSON either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import text

from engines import BlendedEngine

from ..config import ConfigError
from ..conversation import Conversations
from ..storage import Store
from .metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)
DB_TIMEOUT_S = 3.0


@dataclass(slots=True)
class Readiness:
    """What `/readyz` checks: the database, the configured platforms and the models."""

    store: Store
    engine: BlendedEngine
    core: Conversations
    platforms: Collection[str] = ()

    async def check(self) -> dict[str, bool]:
        return {
            "database": await self._database(),
            "platforms": all(self.core.connected(p) for p in self.platforms),
            "models": bool(self.engine.available_members()),
        }

    async def _database(self) -> bool:
        try:
            async with asyncio.timeout(DB_TIMEOUT_S), self.store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("readiness: the database does not answer: %s", type(exc).__name__)
            return False
        return True


class OpsServer:
    def __init__(self, metrics: Metrics, readiness: Readiness, port: int,
                 host: str = "0.0.0.0") -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.port = port
        self.host = host
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def start(self) -> None:
        """Listen on the port; a port in use is a `ConfigError` (one line, exit 1)."""
        runner = web.AppRunner(self.application(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"BLENDBOT_METRICS_PORT {self.port} cannot be used on "
                              f"{self.host} ({exc.strerror or exc}); choose another port"
                              ) from None
        self._runner = runner
        log.info("metrics and health on http://%s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _livez(self, _request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def _readyz(self, _request: web.Request) -> web.Response:
        checks = await self.readiness.check()
        ready = all(checks.values())
        return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)
