"""A streamed body read in batches: every byte, in order, with fewer reads; the connection
goes back to the pool reading again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from engines.stream_reads import batched_chunks

PIECES = 20


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def tokens(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(PIECES):
            await response.write(f"t{i};".encode())
            await asyncio.sleep(0.02)
        await response.write_eof()
        return response

    async def quick(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/tokens", tokens)
    app.router.add_get("/quick", quick)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def read(session: aiohttp.ClientSession, url: str, window_s: float) -> list[bytes]:
    async with session.get(f"{url}/tokens") as response:
        return [chunk async for chunk in batched_chunks(response, window_s)]


async def test_a_batched_read_gets_every_token_in_fewer_reads(server: str) -> None:
    expected = "".join(f"t{i};" for i in range(PIECES)).encode()
    async with aiohttp.ClientSession() as session:
        each = await read(session, server, 0)
        batched = await read(session, server, 0.1)
    assert b"".join(each) == b"".join(batched) == expected
    assert len(each) >= PIECES * 3 // 4  # one read per token
    assert len(batched) <= 8  # about 0.4 s of tokens, one read per 0.1 s


async def test_the_connection_reads_again_for_the_next_request(server: str) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        async with session.get(f"{server}/tokens") as response:
            async for _ in batched_chunks(response, 5.0):  # paused long after the first
                break
            await response.read()
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with session.get(f"{server}/quick") as response:  # the same connection
            assert await response.text() == "ok"
        assert loop.time() - started < 1.0


async def test_the_first_words_are_not_held_back_by_the_role_chunk_before_them() -> None:
    """Real servers send the reply's role, with no text, before the first token: the first
    words must reach the reader when they arrive, not a batch window later."""
    from bot.bench_service import StubServer
    from engines import ChatMessage, Conversation, SamplingParams
    from engines.openai import OpenAIModel, OpenAIOptions

    stub = StubServer(ttft_s=0.05, token_s=0.01, tokens=5, vary=False)
    await stub.start()
    model = OpenAIModel("stub", OpenAIOptions(base_urls=(stub.url,), model="stub",
                                              read_batch_s=2.0), SamplingParams())
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        first = None
        pieces = []
        async for item in model.stream(Conversation("", [ChatMessage("user", "hi")]),
                                       SamplingParams(max_tokens=8)):
            if isinstance(item, str):
                first = first if first is not None else loop.time() - started
                pieces.append(item)
    finally:
        await model.close()
        await stub.stop()
    assert "".join(pieces) == "word0 word1 word2 word3 word4"
    assert first is not None and first < 1.0  # not 2 s: a window after the role chunk
