"""`blendbot run`: the platforms whose tokens are set, together; else the terminal chat."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from .app import App, build_app
from .config import Settings
from .ops.server import OpsServer, Readiness
from .upkeep import Upkeep

log = logging.getLogger(__name__)


Runner = Callable[[App], Coroutine[Any, Any, None]]


def _platforms(settings: Settings) -> dict[str, Runner]:
    runners: dict[str, Runner] = {}
    if settings.discord_token is not None:
        from .adapters.discord import run_discord

        runners["discord"] = lambda app: run_discord(app.core, app.settings)
    if settings.telegram_token is not None:
        from .adapters.telegram import run_telegram

        runners["telegram"] = lambda app: run_telegram(app.core, app.settings)
    return runners


async def serve(settings: Settings) -> int:
    runners = _platforms(settings)
    app = await build_app(settings)
    ops = lag = None
    upkeep = Upkeep(app.store, settings.retention_days, settings.community_grace_days)
    try:
        if settings.metrics_port is not None:
            ops = await _start_ops(app, settings.metrics_port, list(runners))
            assert app.metrics is not None
            lag = asyncio.create_task(app.metrics.watch_loop(), name="loop-lag")
        if not runners:
            from .adapters.console import ConsoleOptions, run_console

            return await run_console(app.core, ConsoleOptions())
        log.warning("blendbot serving %s", " and ".join(runners))
        gc.freeze()  # what start-up built lives as long as the process: collections skip it
        await upkeep.start()  # retention_days, community_grace_days
        tasks = [asyncio.create_task(run(app), name=name) for name, run in runners.items()]
        if app.reports is not None:
            await app.reports.start()  # weekly reports; adapters register where to post
        background = _ranker_refresh(settings)
        _stop_on_signals(tasks)
        try:
            # the first platform to fail (bad token, refused intent) stops the others
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in [*tasks, *background]:
                task.cancel()
            await asyncio.gather(*tasks, *background, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return 0
    finally:
        await upkeep.shutdown()
        if lag is not None:
            lag.cancel()
        if ops is not None:
            await ops.close()
        await app.close()


def _ranker_refresh(settings: Settings) -> list[asyncio.Task[None]]:
    """The weekly `ranker refresh`, where the train extra is installed (else it is by hand)."""
    from .ranker_refresh import extra_installed, refresh_loop

    if not settings.ranker_refresh_days or not extra_installed():
        return []
    return [asyncio.create_task(refresh_loop(settings), name="ranker-refresh")]


async def _start_ops(app: App, port: int, platforms: list[str]) -> OpsServer:
    assert app.metrics is not None
    readiness = Readiness(app.store, app.engine, app.core, platforms)
    ops = OpsServer(app.metrics, readiness, port, app.settings.metrics_host)
    await ops.start()
    return ops


def _stop_on_signals(tasks: list[asyncio.Task[None]]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, lambda: [t.cancel() for t in tasks])
        except (NotImplementedError, RuntimeError):  # not the main thread / platform
            pass
