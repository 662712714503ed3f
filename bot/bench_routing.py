"""`blendbot bench routing`: do a channel's turns stay on one model replica?

Three stub OpenAI-compatible servers behind one `openai` model (`base_urls`), 100 channels
taking turns in concurrent waves, once with rendezvous hashing on the channel (`affinity`
routing) and once with least-busy. Each server records the `X-Session-ID` of every request;
`affinity` is the share of turns (after a channel's first) served by the replica that served
the channel's previous turn, the share vLLM's prefix cache can reuse.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from engines import ChatMessage, Conversation, SamplingParams
from engines.endpoints import SESSION_HEADER, Routing
from engines.openai import OpenAIModel, OpenAIOptions

from .bench_service import StubServer, _sse

REPLICAS, CHANNELS, TURNS = 3, 100, 6
WAVE = 25  # channels talking at the same moment
PIECES, PIECE_S = 4, 0.02


class RecordingServer(StubServer):
    """The service bench's stub server, noting which session each request came from."""

    def __init__(self, name: int, log: list[tuple[str, int]]) -> None:
        super().__init__()
        self.name = name
        self.log = log

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.log.append((request.headers.get(SESSION_HEADER, ""), self.name))
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(PIECES):  # a short reply: a busy replica is busy for a moment
            await asyncio.sleep(PIECE_S)
            await response.write(_sse({"choices": [{"index": 0, "delta": {
                "content": f" w{i}"}, "finish_reason": None}]}))
        await response.write(_sse({"choices": [{"index": 0, "delta": {},
                                                "finish_reason": "stop"}]}))
        await response.write(b"data: [DONE]\n\n")
        return response


async def _run(routing: Routing, channels: int, turns: int, seed: int) -> dict[str, Any]:
    log: list[tuple[str, int]] = []
    servers = [RecordingServer(i, log) for i in range(REPLICAS)]
    for server in servers:
        await server.start()
    model = OpenAIModel("stub", OpenAIOptions(
        base_urls=tuple(s.url for s in servers), model="stub", concurrency=8,
        routing=routing), SamplingParams(max_tokens=16))
    rng = random.Random(seed)
    names = [f"discord:{rng.getrandbits(60)}" for _ in range(channels)]
    try:
        for _ in range(turns):
            order = names[:]
            rng.shuffle(order)
            for start in range(0, len(order), WAVE):
                await asyncio.gather(*(_turn(model, name) for name in order[start:start + WAVE]))
    finally:
        await model.close()
        for server in servers:
            await server.stop()
    return _affinity(log) | {"requests": len(log),
                             "per_replica": [n for _, n in sorted(
                                 Counter(r for _, r in log).items())]}


async def _turn(model: OpenAIModel, channel: str) -> None:
    conversation = Conversation("Be brief.", [ChatMessage("user", "Hello", name="User")])
    async for _ in model.stream(conversation, SamplingParams(max_tokens=16), channel=channel):
        pass


def _affinity(log: list[tuple[str, int]]) -> dict[str, Any]:
    last: dict[str, int] = {}
    same = moved = 0
    for session, replica in log:
        if session in last:
            same, moved = (same + 1, moved) if last[session] == replica else (same, moved + 1)
        last[session] = replica
    return {"affinity": round(same / max(1, same + moved), 4), "moved_turns": moved}


async def routing(settings: object, runs: int | None, say: Callable[[str], None]
                  ) -> dict[str, Any]:
    turns = runs or TURNS
    result: dict[str, Any] = {"bench": "routing", "replicas": REPLICAS, "channels": CHANNELS,
                              "turns_per_channel": turns}
    for name, routing_name in (("hashing", "affinity"), ("least_busy", "least_busy")):
        figures = await _run(routing_name, CHANNELS, turns, seed=7)  # type: ignore[arg-type]
        say(f"{name}: affinity {figures['affinity']:.3f} over {figures['requests']} requests, "
            f"per replica {figures['per_replica']}")
        result[name] = figures
    result["affinity"] = result["hashing"]["affinity"]
    result["affinity_least_busy"] = result["least_busy"]["affinity"]
    return result
