"""`blendbot bench load`: several processes, one bot, under load and `kill -9`.

On the PostgreSQL (`BLENDBOT_DATABASE_URL`) and Redis (`BLENDBOT_REDIS_URL`) it is given, in
a throwaway database it creates (and drops) there:

* the loopback Discord of `tests/fakes` with 4 shards, served by 2 `blendbot run` processes
  (`BLENDBOT_DISCORD_SHARDS=0-1/4` and `2-3/4`), its guilds spread over the shards;
* the loopback Telegram Bot API pushing webhook updates through a small round-robin balancer
  to 2 `blendbot run` webhook workers;
* a fast OpenAI-compatible stub model (`bench service`'s), so the service is measured.

Every channel (half Discord channels, half Telegram groups) has its own users, who take turns
to mention the bot and wait for the answer; now and then two speak at once. Some Discord
messages are dispatched twice (a redelivery) and some Telegram updates pushed twice (a
retry). One Discord process is killed with SIGKILL mid-run and started again. Every community
has a weekly report that is due when the processes start (its schedule is this hour of this
weekday, and no run of this period is recorded), so all four schedulers race for each one;
the load starts once they are out (drawing 108 charts would otherwise be what is measured).

Replies are matched to messages by the message they quote. `lost`: messages the platform
delivered (a Discord message dispatched to a connected session of its shard; a Telegram
update the webhook answered 200) that were never answered; `duplicated`: messages answered
more than once; `out_of_order`: channels whose replies came in another order than their
messages; `in_flight_at_kill`: the lost ones that the killed process had received.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import update
from sqlalchemy.engine import make_url

from .bench_service import WRITING, StubServer, percentile, stub_config
from .config import ConfigError, Settings
from .storage import Store
from .storage.tables import Community

SHARDS = 4
KILLED_SHARDS = frozenset({0, 1})  # the shards of the process killed mid-run (discord-0)
CHANNELS = 200  # half Discord channels (in 8 guilds: guild k is on shard k % 4), half groups
USERS_PER_CHANNEL = 5  # 200 channels x 5 = 1,000 users
USER_IDS = 5 * 10**17  # Discord users' ids start here
TTFT_S, TOKEN_S, TOKENS = 0.05, 0.01, 8  # the stub: 0.12 s a reply
STUB_S = TTFT_S + TOKEN_S * (TOKENS - 1)
THINK_S = 6.0  # a channel's mean pause between turns (`--think-s`): the load's level
TOGETHER = 0.1  # turns where two users speak at once
REDELIVER = 0.05  # Discord messages dispatched twice / Telegram updates pushed twice
ANSWER_WITHIN_S = 20.0
REPORTS_WITHIN_S = 180.0  # the due reports go out at start, before the load
SECRET = "bench-load-secret"


def _fakes() -> tuple[Any, Any]:
    if os.getcwd() not in sys.path:  # `blendbot` runs from .venv/bin: find ./tests
        sys.path.append(os.getcwd())
    try:  # not part of the package
        discord = importlib.import_module("tests.fakes.discord_api")
        telegram = importlib.import_module("tests.fakes.telegram_api")
    except ImportError:
        raise ConfigError("bench load needs the repository checkout: it runs against the "
                          "loopback Discord and Telegram in tests/fakes (run it from the "
                          "repository root)") from None
    return discord, telegram


@dataclass
class Said:
    channel: str  # "discord:<channel id>" or "telegram:<chat id>"
    key: str  # the platform message id the reply quotes
    at: float
    acked: bool
    shard: int | None = None  # Discord: the shard of its guild


@dataclass
class Tally:
    said: list[Said] = field(default_factory=list)
    replies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    texts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    order: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    first_write: dict[str, tuple[float, bool]] = field(default_factory=dict)  # key: (t, partial)
    seen_discord: int = 0
    seen_telegram: int = 0


class Balancer:
    """Round-robin HTTP to the webhook workers; a worker that is down is skipped."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self._next = itertools.count()
        self.app = web.Application()
        self.app.router.add_post("/{tail:.*}", self._forward)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/tg/hook"

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self.http is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")}
        for _ in self.upstreams:
            upstream = self.upstreams[next(self._next) % len(self.upstreams)]
            try:
                async with self.http.post(upstream + request.path, data=body,
                                          headers=headers) as answer:
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientError:
                continue
        return web.Response(status=502, text="no worker")


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports free now, below the kernel's ephemeral range: the servers and
    outgoing connections that start before the processes bind them never take one."""
    import socket

    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    rng = random.Random()
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < n:
            port = rng.randrange(max(1024, low - 12000), low)
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
            ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports



async def _fresh_database(url: str) -> tuple[str, Callable[[], Any]]:
    """A new database on the server of `url`; returns its URL and a coroutine to drop it."""
    import asyncpg  # type: ignore[import-untyped]

    parsed = make_url(url)
    name = f"blendbot_bench_{uuid.uuid4().hex[:10]}"
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn)
    except Exception as exc:
        raise ConfigError(f"bench load: cannot reach PostgreSQL at "
                          f"{parsed.host}:{parsed.port}: {exc}") from None
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        await admin.close()
        raise ConfigError(f"bench load: cannot create a scratch database: {exc}") from None

    async def drop() -> None:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    return parsed.set(database=name).render_as_string(hide_password=False), drop


async def _redis_up(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        raise ConfigError(f"bench load: cannot reach Redis at {url}: {exc}") from None
    finally:
        await client.aclose()


def _guild_id(k: int) -> str:
    return str(((1000 + k) << 22) | 7)  # (id >> 22) % 4 == k % 4


async def _communities(url: str, discord: dict[str, list[str]], report_channel: dict[str, str],
                       groups: list[int], report_chat: dict[int, int]) -> int:
    """The communities, each with a weekly report due now (this weekday and hour, UTC)."""
    now = datetime.now(UTC)
    weekday, hour = now.strftime("%a").lower()[:3], now.hour
    store = Store(url, upgrade=False)
    await store.open()
    try:
        ids = []
        for gid, channels in discord.items():
            state = await store.ensure_channel("discord", gid, f"Guild {gid}", channels[0], "c")
            ids.append((state.community_id, report_channel[gid]))
        for chat in groups:
            state = await store.ensure_channel("telegram", str(chat), f"Group {chat}", str(chat),
                                               "g")
            ids.append((state.community_id, str(report_chat[chat])))
        async with store.session() as s:
            for cid, target in ids:
                await s.execute(update(Community).where(Community.id == cid).values(
                    report_channel=target, report_weekday=weekday, report_hour=hour,
                    report_timezone="UTC"))
            await s.commit()
        return len(ids)
    finally:
        await store.close()


class Processes:
    """The `blendbot run` processes: started, killed, started again; their stderr kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.envs: dict[str, dict[str, str]] = {}
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.metrics_ports: dict[str, int] = {}
        self.logs: dict[str, Path] = {}

    async def start(self, name: str, env: dict[str, str]) -> None:
        self.envs[name] = env
        self.metrics_ports[name] = int(env["BLENDBOT_METRICS_PORT"])
        log = self.logs.setdefault(name, self.directory / f"{name}.log")
        with log.open("ab") as err:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=env, cwd=os.getcwd(),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=err)

    async def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def restart(self, name: str) -> None:
        await self.start(name, self.envs[name])

    def died(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.returncode is not None]

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def tail(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")[-1500:]


LOOP_LAG = "blendbot_event_loop_lag_seconds_bucket{"
PACING = "blendbot_platform_wait_seconds_bucket{"
DEFERRED = "blendbot_previews_deferred_total{platform=\"%s\"}"
CPU = "process_cpu_seconds_total"


async def _scrape(http: aiohttp.ClientSession, port: int) -> dict[str, float]:
    """A process's metrics: each sample's name with its labels -> its value."""
    samples: dict[str, float] = {}
    with contextlib.suppress(aiohttp.ClientError, OSError):
        async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
            for line in (await answer.text()).splitlines():
                if line.startswith(("blendbot_", CPU)):
                    name, value = line.rsplit(" ", 1)
                    samples[name] = float(value)
    return samples


def _p99_ms(samples: list[dict[str, float]], series: str, label: str = "") -> float:
    """p99 of a histogram over all processes (a bucket's upper bound, in ms); `series` is
    the start of its buckets' names, `label` one of their labels (`platform="telegram"`)."""
    total: dict[float, float] = defaultdict(float)
    for sample in samples:
        for name, count in sample.items():
            if name.startswith(series) and label in name:
                le = name.split('le="', 1)[1].split('"', 1)[0]
                total[float("inf") if le == "+Inf" else float(le)] += count
    if not total.get(float("inf")):
        return 0.0
    want = 0.99 * total[float("inf")]
    for upper in sorted(total):
        if total[upper] >= want:
            return round(upper * 1000, 1) if upper != float("inf") else 1e9
    return 0.0


def _sum(samples: list[dict[str, float]], name: str) -> int:
    return round(_sum_f(samples, name))


def _sum_f(samples: list[dict[str, float]], name: str) -> float:
    return sum(sample.get(name, 0.0) for sample in samples)


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


class Watch:
    """Reads both fakes' calls: which message each reply quotes, and when it was written."""

    def __init__(self, discord: Any, telegram: Any, tally: Tally,
                 report_channels: set[str], report_chats: set[int]) -> None:
        self.discord, self.telegram, self.tally = discord, telegram, tally
        self.report_channels, self.report_chats = report_channels, report_chats
        self.reports_sent = 0

    def update(self) -> None:
        t = self.tally
        for call in self.discord.calls[t.seen_discord:]:
            t.seen_discord += 1
            parts = call.path.strip("/").split("/")
            if call.method != "POST" or parts[:1] != ["channels"] or parts[2:] != ["messages"]:
                continue
            if parts[1] in self.report_channels:
                self.reports_sent += 1
                continue
            body = call.body or {}
            quoted = (body.get("message_reference") or {}).get("message_id")
            if quoted is not None:
                self._reply(f"discord:{parts[1]}", str(quoted), call.time,
                            str(body.get("content", "")))
        for call in self.telegram.calls[t.seen_telegram:]:
            t.seen_telegram += 1
            if call.status != 200 or call.method not in ("sendMessage", "sendPhoto"):
                continue
            chat = int(call.params.get("chat_id", 0))
            if chat in self.report_chats:
                self.reports_sent += 1
                continue
            quoted = (call.params.get("reply_parameters") or {}).get("message_id")
            if call.method == "sendMessage" and quoted is not None:
                self._reply(f"telegram:{chat}", f"{chat}:{quoted}", call.at,
                            str(call.params.get("text", "")))

    def _reply(self, channel: str, key: str, at: float, text: str) -> None:
        t = self.tally
        t.replies[key].append(at)
        t.texts[key].append(text[:60])
        t.order[channel].append(key)
        t.first_write.setdefault(key, (at, text.endswith(WRITING)))


class Load:
    """The simulated users of every channel."""

    def __init__(self, discord: Any, telegram: Any, tg_module: Any, balancer: Balancer,
                 watch: Watch, tally: Tally, rng: random.Random, think_s: float) -> None:
        self.discord, self.telegram, self.tg = discord, telegram, tg_module
        self.balancer, self.watch, self.tally, self.rng = balancer, watch, tally, rng
        self.think_s = think_s  # a channel's mean pause between turns
        self.users: set[str] = set()
        self.down: set[int] = set()  # shards of the killed process, until it is back

    async def discord_channel(self, gid: str, channel: str, shard: int, first_user: int,
                              until: float) -> None:
        # far from the fake's own snowflakes (the bot's id among them: its messages are ignored)
        users = [str(USER_IDS + first_user + i) for i in range(USERS_PER_CHANNEL)]
        turn = 0

        async def say(text: str) -> Said:
            nonlocal turn
            uid = users[turn % len(users)]
            turn += 1
            self.users.add(f"discord:{uid}")
            acked = shard in self.discord.shards_up() and shard not in self.down
            msg = await self.discord.user_says(text, uid=uid, channel_id=channel, mention=True)
            said = Said(f"discord:{channel}", str(msg["id"]), time.monotonic(), acked, shard)
            self.tally.said.append(said)
            if self.rng.random() < REDELIVER:
                await asyncio.sleep(0.02)
                await self.discord.dispatch("MESSAGE_CREATE", msg)
            return said

        await self._turns(say, until)

    async def telegram_group(self, chat_id: int, first_user: int, until: float) -> None:
        chat = self.tg.Chat(chat_id, "supergroup", f"Group {chat_id}")
        users = [self.tg.User(2 * 10**9 + first_user + i, f"User {first_user + i}")
                 for i in range(USERS_PER_CHANNEL)]
        turn = 0
        mention = f"@{self.tg.BOT_USERNAME}"

        async def say(text: str) -> Said:
            nonlocal turn
            user = users[turn % len(users)]
            turn += 1
            self.users.add(f"telegram:{user.id}")
            upd = self.telegram.update(chat, user, f"{mention} {text}")
            key = f"{chat_id}:{upd['message']['message_id']}"
            said = Said(f"telegram:{chat_id}", key, time.monotonic(), False)
            self.tally.said.append(said)
            statuses = await self.telegram.push(upd, url=self.balancer.url, retry_s=0.5,
                                                within=ANSWER_WITHIN_S)
            said.acked = statuses[-1] == 200
            if self.rng.random() < REDELIVER:  # Telegram sends it again (to another worker)
                await self.telegram.push(upd, url=self.balancer.url, retry_s=0.5, within=5)
            return said

        await self._turns(say, until)

    async def _turns(self, say: Callable[[str], Any], until: float) -> None:
        n = 0
        await asyncio.sleep(self.rng.uniform(0, self.think_s))
        while time.monotonic() < until:
            batch = [await say(f"question {n}")]
            n += 1
            if self.rng.random() < TOGETHER:
                batch.append(await say(f"and also {n}"))
                n += 1
            await _until(lambda b=batch: all(s.key in self.tally.replies  # type: ignore[misc]
                                             for s in b if s.acked), ANSWER_WITHIN_S, 0.05)
            await asyncio.sleep(self.rng.expovariate(1 / self.think_s))


def _env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in base.items()
           if not k.startswith("BLENDBOT_") and k not in ("TELEGRAM_TOKEN", "DISCORD_TOKEN")}
    env.update(extra)
    return env


async def load(settings: Settings, seconds: float, say: Callable[[str], None],
               channels: int = CHANNELS, think_s: float = THINK_S) -> dict[str, Any]:
    """The run; `channels` smaller than 200 scales it down (the short test); `think_s` is
    a channel's mean pause between turns."""
    if seconds <= 0 or channels < 8:
        raise ConfigError("bench load: --seconds must be above 0 (and channels at least 8)")
    if think_s <= 0:
        raise ConfigError("bench load: --think-s must be above 0")
    discord_channels = channels // 2
    telegram_groups = channels - discord_channels
    guilds_n = 8 if discord_channels >= 80 else SHARDS
    if not settings.database_url or not settings.database_url.startswith("postgresql"):
        raise ConfigError("bench load needs PostgreSQL: set BLENDBOT_DATABASE_URL "
                          "(postgresql+asyncpg://…)")
    if not settings.redis_url:
        raise ConfigError("bench load needs Redis: set BLENDBOT_REDIS_URL (redis://…)")
    discord_mod, tg_mod = _fakes()
    await _redis_up(settings.redis_url)
    url, drop = await _fresh_database(settings.database_url)
    rng = random.Random(15)
    per_guild = discord_channels // guilds_n
    guilds = {_guild_id(k): [str(10**16 + k * 1000 + c) for c in range(per_guild + 1)]
              for k in range(guilds_n)}  # the last channel of each guild takes its report
    guilds[_guild_id(0)] += [str(10**16 + 999_000 + c)
                             for c in range(discord_channels - per_guild * guilds_n)]
    report_channel = {gid: ids[per_guild] for gid, ids in guilds.items()}
    talk = {gid: [c for c in ids if c != report_channel[gid]] for gid, ids in guilds.items()}
    groups = [-(10**12) - i for i in range(telegram_groups)]
    report_chat = {chat: chat - 10**11 for chat in groups}
    discord = discord_mod.FakeDiscord(shard_count=SHARDS, guilds=guilds, max_concurrency=SHARDS)
    telegram = tg_mod.FakeTelegram()
    stub = StubServer(TTFT_S, TOKEN_S, TOKENS, vary=True)
    picked = _free_ports(6)
    ports, metrics = picked[:2], iter(picked[2:])  # two webhook workers; four metrics ports
    balancer = Balancer([f"http://127.0.0.1:{p}" for p in ports])
    tally = Tally()
    watch = Watch(discord, telegram, tally, set(report_channel.values()),
                  set(report_chat.values()))
    killed, reports_s = 0, 0.0
    tmp = tempfile.TemporaryDirectory(prefix="blendbot-load-")
    directory = Path(tmp.name)
    procs = Processes(directory)
    http = aiohttp.ClientSession()
    try:
        for server in (discord, telegram, stub, balancer):
            await server.start()
        say(f"bench load: database {make_url(url).database}; schema upgrade")
        upgrade = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "db", "upgrade",
            env=_env(dict(os.environ), BLENDBOT_DATABASE_URL=url),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await upgrade.communicate()
        if upgrade.returncode != 0:
            raise ConfigError(f"bench load: blendbot db upgrade failed: "
                              f"{err.decode(errors='replace').strip()[-300:]}")
        reports_expected = await _communities(url, guilds, report_channel, groups, report_chat)
        common = dict(BLENDBOT_DATABASE_URL=url, BLENDBOT_REDIS_URL=settings.redis_url,
                      BLENDBOT_CONFIG=str(stub_config(directory, stub.url, rate_limit=100000)),
                      BLENDBOT_DATA_DIR=str(directory / "data"), BLENDBOT_LOG_LEVEL="WARNING",
                      BLENDBOT_METRICS_HOST="127.0.0.1")
        base = dict(os.environ)
        for i, shards in enumerate(("0-1/4", "2-3/4")):
            await procs.start(f"discord-{i}", _env(
                base, **common, DISCORD_TOKEN=discord.valid_token,
                BLENDBOT_DISCORD_API_URL=discord.api_url,
                BLENDBOT_DISCORD_GATEWAY_URL=discord.gateway_url,
                BLENDBOT_DISCORD_SHARDS=shards, BLENDBOT_METRICS_PORT=str(next(metrics))))
        for i, port in enumerate(ports):
            await procs.start(f"telegram-{i}", _env(
                base, **common, TELEGRAM_TOKEN=telegram.token,
                BLENDBOT_TELEGRAM_API_URL=telegram.url,
                BLENDBOT_TELEGRAM_WEBHOOK_URL=balancer.url,
                BLENDBOT_TELEGRAM_WEBHOOK_LISTEN="127.0.0.1",
                BLENDBOT_TELEGRAM_WEBHOOK_PORT=str(port),
                BLENDBOT_TELEGRAM_WEBHOOK_SECRET=SECRET,
                BLENDBOT_METRICS_PORT=str(next(metrics))))
        say("waiting for 4 shards and 2 webhook workers")
        started = time.monotonic()
        while (discord.shards_up() != set(range(SHARDS))
               or len([c for c in telegram.calls if c.method == "setWebhook"]) < 2):
            if procs.died():
                name = procs.died()[0]
                raise ConfigError(f"bench load: {name} stopped: {procs.tail(name)}")
            if time.monotonic() - started > 120:
                raise ConfigError("bench load: the bot processes did not come up in 120 s")
            await asyncio.sleep(0.1)
        for port in ports:  # the workers listen once they have set the webhook
            await _until_listening(port)
        say(f"waiting for the {reports_expected} due reports")
        watcher = asyncio.create_task(_follow(watch))
        await _until(lambda: watch.reports_sent >= reports_expected, REPORTS_WITHIN_S, 0.2)
        reports_s = time.monotonic() - started
        metrics_before = {n: await _scrape(http, p) for n, p in procs.metrics_ports.items()}
        say(f"load: {channels} channels, {channels * USERS_PER_CHANNEL} users, "
            f"{seconds:.0f} s")
        begin = time.monotonic()
        until = begin + seconds
        users = Load(discord, telegram, tg_mod, balancer, watch, tally, rng, think_s)
        tasks = []
        n = 0
        for k, (gid, spoken) in enumerate(talk.items()):
            for channel in spoken:
                tasks.append(asyncio.create_task(users.discord_channel(
                    gid, channel, k % SHARDS, n * USERS_PER_CHANNEL, until)))
                n += 1
        for chat in groups:
            tasks.append(asyncio.create_task(users.telegram_group(
                chat, n * USERS_PER_CHANNEL, until)))
            n += 1
        kill_at, killed_at = begin + seconds * 0.4, 0.0
        back: asyncio.Task[None] | None = None
        metric_samples: list[dict[str, float]] = []
        while time.monotonic() < until:
            await asyncio.sleep(0.2)
            if not killed and time.monotonic() >= kill_at:
                say("SIGKILL discord-0 (shards 0-1), then start it again")
                metric_samples.append(_diff(
                    await _scrape(http, procs.metrics_ports["discord-0"]),
                    metrics_before.pop("discord-0")))
                killed_at = time.monotonic()
                users.down = set(KILLED_SHARDS)
                await procs.kill("discord-0")
                killed += 1
                await asyncio.sleep(1.0)
                await procs.restart("discord-0")
                metrics_before["discord-0"] = {}
                back = asyncio.create_task(_back(discord, users))
        await asyncio.gather(*tasks)
        if back is not None:
            await back
        await _until(lambda: watch.reports_sent >= reports_expected and all(
            s.key in tally.replies for s in tally.said if s.acked), ANSWER_WITHIN_S, 0.2)
        await asyncio.sleep(1.0)  # a late second reply would show now
        watch.update()
        watcher.cancel()
        for name, port in procs.metrics_ports.items():
            metric_samples.append(_diff(await _scrape(http, port), metrics_before.get(name, {})))
        died = procs.died()
        if died:
            say(f"bench load: {', '.join(died)} stopped during the run: {procs.tail(died[0])}")
        if os.environ.get("BLENDBOT_BENCH_LOGS"):
            for name in procs.logs:
                say(f"--- {name}\n{procs.tail(name)}")
    finally:
        await http.close()
        await procs.stop()
        for server in (balancer, stub):
            await server.stop()
        await telegram.close()
        await discord.stop()
        await drop()
    try:
        result = _result(tally, users, killed, killed_at, reports_expected, watch.reports_sent,
                         metric_samples, discord, telegram, seconds)
        if result["lost"] or result["duplicated"] or result["out_of_order"]:
            kept = Path(tempfile.mkdtemp(prefix="blendbot-load-logs-"))
            for path in procs.logs.values():  # the processes' logs, to find out why
                shutil.copy(path, kept / path.name)
            result["logs"] = str(kept)
    finally:
        tmp.cleanup()
    result["channels"] = channels
    result["think_s"] = think_s  # the load's level, with `messages_per_s`
    result["messages_per_s"] = round(result["messages"] / seconds, 1)
    result["start_and_reports_s"] = round(reports_s, 1)
    return result


async def _until(check: Callable[[], bool], within: float, every: float) -> bool:
    """Poll `check` until it holds (True) or `within` seconds pass (False)."""
    deadline = time.monotonic() + within
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)


async def _back(discord: Any, users: Load) -> None:
    """Messages reach shards 0-1 again once the restarted process has identified them."""
    await _until(lambda: not discord.shards_up() & KILLED_SHARDS, 10, 0.05)  # the killed sessions
    await _until(lambda: KILLED_SHARDS <= discord.shards_up(), 120, 0.05)
    users.down = set()


async def _follow(watch: Watch) -> None:
    while True:
        watch.update()
        await asyncio.sleep(0.02)


async def _until_listening(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise ConfigError(f"bench load: no webhook worker on port {port}") from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return


def _result(tally: Tally, users: Load, killed: int, killed_at: float, reports_expected: int,
            reports_sent: int, metric_samples: list[dict[str, float]], discord: Any,
            telegram: Any, seconds: float) -> dict[str, Any]:
    acked = [s for s in tally.said if s.acked]
    lost = [s for s in acked if s.key not in tally.replies]
    in_flight = [s for s in lost if s.shard in KILLED_SHARDS and killed_at
                 and killed_at - 2 * ANSWER_WITHIN_S < s.at <= killed_at]
    twice = [key for key, times in tally.replies.items() if len(times) > 1]
    duplicated = len(twice)
    said_order: dict[str, list[str]] = defaultdict(list)
    for s in tally.said:
        said_order[s.channel].append(s.key)
    out_of_order = 0
    for channel, keys in tally.order.items():
        answered = list(dict.fromkeys(keys))
        expected = [k for k in said_order[channel] if k in tally.replies]
        if answered != expected:
            out_of_order += 1
    by_platform: dict[str, list[float]] = defaultdict(list)
    spared: list[float] = []  # messages the killed process never served
    killed_shard = {s.channel for s in tally.said if s.shard in KILLED_SHARDS}
    for platform, channel, overhead in _overheads(tally, said_order):
        by_platform[platform].append(overhead)
        if channel not in killed_shard:
            spared.append(overhead)
    overheads = [o for values in by_platform.values() for o in values]
    times = [c.time for c in discord.calls] + [c.at for c in telegram.calls]
    per_second: dict[int, int] = defaultdict(int)
    for t in times:
        per_second[int(t)] += 1
    return {
        "bench": "load",
        "seconds": seconds,
        "processes": 4,
        "users": len(users.users),  # who spoke
        "messages": len(tally.said),
        "acknowledged": len(acked),
        "replies": sum(len(v) for v in tally.replies.values()),
        "lost": len(lost),
        "in_flight_at_kill": len(in_flight),
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "killed": killed,
        "reports_expected": reports_expected,
        "reports_sent": reports_sent,
        "loop_lag_p99_ms": _p99_ms(metric_samples, LOOP_LAG),
        "overhead_p50_ms": round(percentile(overheads, 0.5), 1),
        "overhead_p99_ms": round(percentile(overheads, 0.99), 1),
        # the same without the channels of the killed process's shards (its restart, the
        # lapse of its leases and the takeovers are in the figure above)
        "overhead_p99_ms_spared_by_kill": round(percentile(spared, 0.99), 1),
        "overhead_ms_by_platform": {p: {f"p{q}": round(percentile(v, q / 100), 1)
                                        for q in (50, 90, 95, 99)}
                                    for p, v in sorted(by_platform.items())},
        "rest_peak_per_s": max(per_second.values(), default=0),
        # the 4 processes' CPU time during the load (the killed one's restart included), per
        # message: what a turn costs the machine, steadier than latency on a busy one
        "cpu_ms_per_message": round(1000 * _sum_f(metric_samples, CPU) / max(1, len(tally.said)),
                                    2),
        # sends and edits held for the platforms' budgets (Telegram: 30 a second per bot,
        # 20 a minute per group), and previews left out for them
        "platform_wait_p99_ms": {p: _p99_ms(metric_samples, PACING, f'platform="{p}"')
                                 for p in ("discord", "telegram")},
        "previews_deferred": {p: _sum(metric_samples, DEFERRED % p)
                              for p in ("discord", "telegram")},
        "lost_examples": [{"message": s.key, "channel": s.channel, "shard": s.shard,
                           "s_after_kill": round(s.at - killed_at, 2) if killed_at else None}
                          for s in lost[:3]],
        "duplicated_examples": [{"message": k, "replies": tally.texts[k]} for k in twice[:3]],
        "stub_reply_ms": round(STUB_S * 1000),
    }


def _overheads(tally: Tally, said_order: dict[str, list[str]]
               ) -> list[tuple[str, str, float]]:
    """Per answered message: its reply's first write minus when its clock started (it was
    said, or its channel's previous reply was written) minus the stub's own time (to its
    first token if the first write was a preview, else its whole reply), in ms, with its
    platform and channel."""
    when = {s.key: s.at for s in tally.said}
    out = []
    for channel, keys in said_order.items():
        platform = channel.split(":", 1)[0]
        previous = 0.0
        for key in keys:
            first = tally.first_write.get(key)
            if first is None:
                continue
            at, partial = first
            start = max(when[key], previous)
            out.append((platform, channel,
                        (at - start - (TTFT_S if partial else STUB_S)) * 1000))
            previous = at + (STUB_S - TTFT_S if partial else 0.0)  # about when it ended
    return out

