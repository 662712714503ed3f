"""`blendbot bench service`: what the service itself costs per message, apart from the model.

`blendbot run` runs as a subprocess against the loopback Discord of `tests/fakes` (the real
discord.py client) and a stub OpenAI-compatible server that streams every reply with a fixed
time to first token and token rate. A warm channel (66 stored messages) gets 30 mentions one
after another, then 30 mentions arrive at once across 10 channels. The process's CPU while
idle is measured first: the sequential mentions' CPU includes it (one message a second).

Overheads are what the bot adds: the time from the mention to the platform write minus the
stub's own time (its time to first token for the first post; its whole reply for the last
write). In the burst, a channel answers its mentions one at a time and in order, so a
mention's clock starts when its channel's previous reply was written.

The same mentions then go to `bot.bench_floor`, the least a streaming discord.py bot does
(one stream, a post and an edit, nothing stored): `floor_cpu_ms_per_message` is what this
machine charges for that much, apart from anything blendbot adds.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .config import ConfigError, Settings
from .storage import Store

TTFT_S = 0.2  # the stub's time to first token
TOKEN_S = 0.04  # ... and between tokens
TOKENS = 20  # words per reply: 0.2 + 19 × 0.04 ≈ 0.98 s in all
HISTORY = 66  # stored messages in the warm channel
SEQUENTIAL = 30
BURST, BURST_CHANNELS = 30, 10
IDLE_S = 15.0  # how long the idle process's own CPU (timers, sweeps) is measured
WRITING = " …"


class StubServer:
    """An OpenAI-compatible `/v1/chat/completions` that streams the reply's role at once,
    then `tokens` words, the first after `ttft_s`, the others `token_s` apart."""

    def __init__(self, ttft_s: float = TTFT_S, token_s: float = TOKEN_S,
                 tokens: int = TOKENS, vary: bool = True) -> None:
        self.ttft_s, self.token_s, self.tokens = ttft_s, token_s, tokens
        self.vary = vary  # each reply's words differ (no reply repeats an earlier one)
        self.served = 0
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self.app.router.add_get("/v1/models", self._models)
        self.runner = web.AppRunner(self.app)
        self.url = ""
        self.served = 0

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def _models(self, _: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "stub", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.served += 1
        tag = f"r{self.served}x" if self.vary else ""
        try:  # the reply's role at once, with no text, as OpenAI, vLLM and llama.cpp send it
            await response.write(_sse({"choices": [{"index": 0, "delta": {
                "role": "assistant", "content": ""}, "finish_reason": None}]}))
            await asyncio.sleep(self.ttft_s)
            for i in range(self.tokens):
                if i:
                    await asyncio.sleep(self.token_s)
                piece = ("" if i == 0 else " ") + f"{tag}word{i}"
                await response.write(_sse({"choices": [{"index": 0,
                                                        "delta": {"content": piece},
                                                        "finish_reason": None}]}))
            await response.write(_sse({"choices": [{"index": 0, "delta": {},
                                                    "finish_reason": "stop"}],
                                       "usage": {"prompt_tokens": 100,
                                                 "completion_tokens": self.tokens}}))
            await response.write(b"data: [DONE]\n\n")
        except ConnectionResetError:  # the bot went away mid-reply (killed, or stopped)
            pass
        return response

    async def stop(self) -> None:
        await self.runner.cleanup()


def _sse(payload: dict[str, Any]) -> bytes:
    import json

    return f"data: {json.dumps(payload)}\n\n".encode()


@dataclass
class Timing:
    asked: float
    first_post: float | None = None
    last_write: float | None = None
    text: str = ""
    message_id: str | None = None


@dataclass
class Proc:
    """CPU seconds and resident memory of a process, read from /proc."""

    pid: int
    tick: float = field(default_factory=lambda: float(os.sysconf("SC_CLK_TCK")))

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def _fake_discord() -> Any:
    if os.getcwd() not in sys.path:  # `blendbot` runs from .venv/bin: find ./tests
        sys.path.append(os.getcwd())
    try:
        fakes = importlib.import_module("tests.fakes.discord_api")  # not part of the package
    except ImportError:
        raise ConfigError("bench service needs the repository checkout: it runs against the "
                          "loopback Discord in tests/fakes (run it from the repository root)"
                          ) from None
    return fakes.FakeDiscord


async def _warm(url: str, fake: Any) -> None:
    """The warm channel's stored history: alternating user and bot messages."""
    store = Store(url)
    await store.open()
    try:
        channel = await store.ensure_channel("discord", fake.guild_id, "Test Guild",
                                             fake.channel_id, "general")
        user = await store.ensure_user("discord", fake.member_id, "Bob")
        for i in range(HISTORY):
            if i % 2 == 0:
                await store.add_message(channel.id, "user", f"message {i} about the sea",
                                        user_id=user)
            else:
                await store.add_message(channel.id, "assistant", f"a reply {i}: " +
                                        " ".join(f"h{i}w{k}" for k in range(TOKENS)),
                                        model_id="stub", mode="uniform")
    finally:
        await store.close()


def stub_config(directory: Path, stub_url: str, rate_limit: int = 10000) -> Path:
    """A config whose one model is the stub server at `stub_url`."""
    path = directory / "blendbot.toml"
    path.write_text(f"""rate_limit = {rate_limit}
[[models]]
id = "stub"
backend = "openai"
base_url = "{stub_url}"
prompt_format = "chat_template"
n_ctx = 8192
max_tokens = 64
""")
    return path


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Watch:
    """Follows the fake's REST calls: when each mention got its first post and last write."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.seen = 0

    def update(self, pending: dict[str, list[Timing]]) -> None:
        for call in self.fake.calls[self.seen:]:
            self.seen += 1
            parts = call.path.strip("/").split("/")
            if parts[:1] != ["channels"] or parts[2:3] != ["messages"]:
                continue
            queue = pending.get(parts[1])
            if not queue:
                continue
            content = (call.body or {}).get("content", "")
            current = next((t for t in queue if t.last_write is None), None)
            if current is None:
                continue
            if call.method == "POST" and current.first_post is None:
                current.first_post = call.time
            if content and not content.endswith(WRITING) and call.method in ("POST", "PATCH"):
                current.last_write, current.text = call.time, content


async def _ask(fake: Any, watch: Watch, pending: dict[str, list[Timing]],
               channel: str, text: str) -> Timing:
    timing = Timing(asyncio.get_running_loop().time())
    pending.setdefault(channel, []).append(timing)
    await fake.user_says(text, mention=True, channel_id=channel)
    return timing


async def _until_done(watch: Watch, pending: dict[str, list[Timing]], timings: list[Timing],
                      within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        watch.update(pending)
        if all(t.last_write is not None for t in timings):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise ConfigError("bench service: the bot stopped answering (see its log)")
        await asyncio.sleep(0.005)


def _overheads(timings: list[Timing], by_channel: dict[str, list[Timing]]
               ) -> tuple[list[float], list[float]]:
    """(first-post, last-write) overheads in ms; a mention waits for its channel's previous
    reply before its clock starts."""
    first, last = [], []
    wanted = {id(t) for t in timings}
    for queue in by_channel.values():
        previous_end = 0.0
        for t in queue:
            if id(t) not in wanted:
                previous_end = t.last_write or previous_end
                continue
            assert t.first_post is not None and t.last_write is not None
            start = max(t.asked, previous_end)
            first.append((t.first_post - start - TTFT_S) * 1000)
            last.append((t.last_write - start - TTFT_S - TOKEN_S * (TOKENS - 1)) * 1000)
            previous_end = t.last_write
    return first, last


@dataclass
class Run:
    """One bot process under the bench's load."""

    cpu_ms: float  # per sequential mention
    idle_ms_per_s: float
    took_s: float  # the sequential mentions, in all
    rss_mb: float
    sequential: list[Timing]
    burst: list[Timing]
    pending: dict[str, list[Timing]]
    stderr: bytes


async def _run(argv: list[str], env: dict[str, str], directory: Path, *, floor: bool = False
               ) -> Run:
    """Start the bot (`python argv...`) against a fresh loopback Discord and stub model, and
    put it through the phases. `floor`: the minimal bot (no stored history, no commands to
    wait for, no idle phase)."""
    fake_cls = _fake_discord()
    extra = [str(10**17 + i) for i in range(BURST_CHANNELS - 1)]
    fake = fake_cls(extra_channels=extra)
    stub = StubServer()
    await fake.start()
    await stub.start()
    try:
        data = directory / "data"
        if not floor:
            await _warm(f"sqlite+aiosqlite:///{data / 'blendbot.db'}", fake)
        env = {**env, "DISCORD_TOKEN": fake.valid_token,
               "BLENDBOT_DISCORD_API_URL": fake.api_url,
               "BLENDBOT_DISCORD_GATEWAY_URL": fake.gateway_url, "BLENDBOT_DATA_DIR": str(data),
               "BLENDBOT_CONFIG": str(stub_config(directory, stub.url))}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, env=env, cwd=directory,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        try:
            await asyncio.wait_for(fake.ready.wait(), 60)
            for _ in range(0 if floor else 600):  # the bot has synced its commands: set up
                if fake.commands:
                    break
                await asyncio.sleep(0.05)
            meter = Proc(proc.pid)
            watch, pending = Watch(fake), dict[str, list[Timing]]()
            warmup = [await _ask(fake, watch, pending, fake.channel_id, "warm up")]
            await _until_done(watch, pending, warmup, 30)
            await asyncio.sleep(1.0)  # the warm-up's last writes
            idle_ms_per_s = 0.0
            if not floor:
                cpu0 = meter.cpu_s()
                await asyncio.sleep(IDLE_S)
                idle_ms_per_s = (meter.cpu_s() - cpu0) * 1000 / IDLE_S
            cpu0, started = meter.cpu_s(), time.perf_counter()
            sequential: list[Timing] = []
            for i in range(SEQUENTIAL):
                timing = await _ask(fake, watch, pending, fake.channel_id, f"question {i}?")
                sequential.append(timing)
                await _until_done(watch, pending, [timing], 30)
            cpu_ms = (meter.cpu_s() - cpu0) * 1000 / SEQUENTIAL
            took = time.perf_counter() - started
            channels = [fake.channel_id, *extra]
            burst = [await _ask(fake, watch, pending, channels[i % BURST_CHANNELS], f"now {i}")
                     for i in range(BURST)]
            await _until_done(watch, pending, burst, 120)
            rss = meter.rss_mb()
        finally:
            proc.terminate()
            _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        await stub.stop()
        await fake.stop()
    return Run(cpu_ms, idle_ms_per_s, took, rss, sequential, burst, pending, err)


async def service(settings: Settings, runs: int | None, say: Callable[[str], None]
                  ) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BLENDBOT_") and k not in ("TELEGRAM_TOKEN", "DISCORD_TOKEN")}
    with tempfile.TemporaryDirectory(prefix="blendbot-bench-") as tmp:
        say(f"blendbot run: {IDLE_S:.0f} s idle, {SEQUENTIAL} mentions in the warm channel, "
            f"then {BURST} at once across {BURST_CHANNELS} channels")
        bot = await _run(["-m", "bot", "run"], env, Path(tempfile.mkdtemp(dir=tmp)))
        say("the floor: a minimal discord.py streaming bot under the same mentions")
        floor = await _run(["-m", "bot.bench_floor"], env, Path(tempfile.mkdtemp(dir=tmp)),
                           floor=True)
    first, last = _overheads(bot.sequential, bot.pending)
    burst_first, _ = _overheads(bot.burst, bot.pending)
    floor_burst, _ = _overheads(floor.burst, floor.pending)
    busy = sum("busy" in t.text.lower() for t in bot.sequential + bot.burst)
    for run in (bot, floor):
        if b"Traceback" in run.stderr:
            say(run.stderr.decode(errors="replace")[-2000:])
    return {
        "bench": "service",
        "messages": SEQUENTIAL + BURST,
        "history_messages": HISTORY,
        "stub_ttft_ms": TTFT_S * 1000,
        "stub_reply_ms": round((TTFT_S + TOKEN_S * (TOKENS - 1)) * 1000),
        "cpu_ms_per_message": round(bot.cpu_ms, 2),
        "idle_cpu_ms_per_s": round(bot.idle_ms_per_s, 2),  # included above: a message a second
        "sequential_s": round(bot.took_s, 2),
        "first_post_overhead_ms_p50": round(statistics.median(first), 1),
        "first_post_overhead_ms_p95": round(percentile(first, 0.95), 1),
        "last_write_overhead_ms_p50": round(statistics.median(last), 1),
        "burst_first_post_overhead_ms_p50": round(statistics.median(burst_first), 1),
        "burst_first_post_overhead_ms_p95": round(percentile(burst_first, 0.95), 1),
        "rss_mb": round(bot.rss_mb, 1),
        "busy_replies": busy,
        # the same mentions answered by bot.bench_floor: what this machine charges any
        # streaming discord.py bot (one stream, a post and an edit; nothing stored)
        "floor_cpu_ms_per_message": round(floor.cpu_ms, 2),
        "floor_burst_first_post_overhead_ms_p95": round(percentile(floor_burst, 0.95), 1),
    }
