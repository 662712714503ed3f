"""The compose topology started from processes: every bot service of `deploy/compose.yaml`
as a `blendbot run` with that service's environment, against PostgreSQL, the loopback
Discord and Telegram, the proxy's workers and Prometheus's targets."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.cli import build_parser
from tests.adapters.telegram.helpers import ALICE, DM
from tests.deploy.compose import (
    DEPLOY,
    bot_processes,
    prometheus_targets,
    proxy_upstreams,
    services,
    substitute,
)
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import FakeTelegram
from tests.ops.postgres import free_port, postgres_server

SECRET = "webhook-secret-for-the-topology-test"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def config_path(service: dict, container_path: str) -> str:
    """The host file a service's volume mounts at `container_path`."""
    for volume in service.get("volumes", []):
        host, target, *_ = volume.split(":")
        if target == container_path:
            return str((DEPLOY / host).resolve())
    raise AssertionError(f"no volume mounts {container_path}")


class Proxy:
    """What nginx does for `/telegram`: the workers in turn."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = itertools.cycle(upstreams)
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/telegram", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-")}
        headers["Content-Type"] = "application/json"
        async with aiohttp.ClientSession() as http, http.post(
                f"http://{next(self.upstreams)}/telegram", data=body, headers=headers) as r:
            return web.Response(status=r.status, body=await r.read())

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def status(port: int, path: str) -> int:
    try:
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(total=5)) as r:
            await r.read()
            return r.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def test_the_compose_topology_runs_as_processes(tmp_path: Path) -> None:
    discord, telegram = FakeDiscord(), FakeTelegram()
    await discord.start()
    await telegram.start()
    procs: dict[str, asyncio.subprocess.Process] = {}
    ports: dict[str, int] = {}  # "service:container port" -> the port on this machine
    for name, service in bot_processes().items():
        for key in ("BLENDBOT_METRICS_PORT", "BLENDBOT_TELEGRAM_WEBHOOK_PORT"):
            if key in service["environment"]:
                ports[f"{name}:{service['environment'][key]}"] = free_port()
    proxy = Proxy([f"127.0.0.1:{ports[u]}" for u in proxy_upstreams()])
    await proxy.start()
    given = {"DISCORD_TOKEN": discord.valid_token, "TELEGRAM_TOKEN": telegram.token,
             "PUBLIC_URL": f"http://127.0.0.1:{proxy.port}",
             "BLENDBOT_TELEGRAM_WEBHOOK_SECRET": SECRET}
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("BLENDBOT_") and k not in ("DISCORD_TOKEN", "TELEGRAM_TOKEN")}
    try:
        with postgres_server() as pg:
            def environment(name: str, service: dict) -> dict[str, str]:
                env = {k: substitute(str(v), given) for k, v in service["environment"].items()}
                env["BLENDBOT_CONFIG"] = config_path(service, env["BLENDBOT_CONFIG"])
                env["BLENDBOT_DATABASE_URL"] = pg.url  # the `db` service
                for key in ("BLENDBOT_METRICS_PORT", "BLENDBOT_TELEGRAM_WEBHOOK_PORT"):
                    if f"{name}:{env.get(key)}" in ports:
                        env[key] = str(ports[f"{name}:{env[key]}"])
                    else:
                        env.pop(key, None)  # the one-shot serves nothing
                data = tmp_path / name
                data.mkdir(exist_ok=True)
                return {**base, **env, "BLENDBOT_DATA_DIR": str(data),
                        "BLENDBOT_METRICS_HOST": "127.0.0.1",
                        "BLENDBOT_TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
                        "BLENDBOT_DISCORD_API_URL": discord.api_url,
                        "BLENDBOT_DISCORD_GATEWAY_URL": discord.gateway_url,
                        "BLENDBOT_TELEGRAM_API_URL": telegram.url}

            migrate = services()["migrate"]
            known = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
            command = (migrate["command"] if migrate["command"][0] in known else
                       ["-c", "import asyncio, os; from bot.storage import Store; "
                        "asyncio.run(Store(os.environ['BLENDBOT_DATABASE_URL']).open())"])
            first = ["-m", "bot", *command] if command[0] != "-c" else command
            done = await asyncio.create_subprocess_exec(
                sys.executable, *first, env=environment("migrate", migrate), cwd=tmp_path,
                stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(done.communicate(), 120)
            assert done.returncode == 0, err.decode()[-2000:]

            for name, service in bot_processes().items():
                procs[name] = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", *service["command"],
                    env=environment(name, service), cwd=tmp_path / name,
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE)
            targets = {t: ports[t] for t in prometheus_targets()["blendbot"]}
            deadline = asyncio.get_running_loop().time() + 180
            while True:  # every healthcheck: /readyz
                ready = {t: await status(p, "/readyz") for t, p in targets.items()}
                if all(code == 200 for code in ready.values()):
                    break
                for name, proc in procs.items():
                    assert proc.returncode is None, f"{name} exited: " + (
                        await proc.stderr.read()).decode()[-2000:]  # type: ignore[union-attr]
                assert asyncio.get_running_loop().time() < deadline, ready
                await asyncio.sleep(0.5)

            assert sorted(tuple(i["shard"]) for i in discord.identifies) == [(0, 2), (1, 2)]
            assert telegram.webhook["url"] == f"http://127.0.0.1:{proxy.port}/telegram"
            async with aiohttp.ClientSession() as http:
                for _ in range(2):  # through the proxy: one update to each worker
                    async with http.post(f"http://127.0.0.1:{proxy.port}/telegram",
                                         json=telegram.update(DM, ALICE, "/help"),
                                         headers={HEADER: SECRET}) as r:
                        assert r.status == 200
            await telegram.wait_for(lambda: len([c for c in telegram.of("sendMessage")
                                                 if c.params["chat_id"] == DM.id]) >= 2, 60)
            for target, port in targets.items():  # what Prometheus scrapes
                async with aiohttp.ClientSession() as http, http.get(
                        f"http://127.0.0.1:{port}/metrics") as r:
                    assert r.status == 200 and "blendbot_model_healthy" in await r.text(), \
                        target
            assert await status(ports["discord-0:9100"], "/livez") == 200
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.terminate()
        for proc in procs.values():
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            assert b"Traceback" not in err, err.decode()[-2000:]
        await proxy.stop()
        await discord.stop()
        await telegram.close()
