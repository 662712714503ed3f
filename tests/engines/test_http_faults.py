"""The `openai` backend against a real aiohttp server that misbehaves on purpose.

Retries (429/5xx, `Retry-After`), errors that are not retried (401, a long `Retry-After`),
malformed JSON and SSE, a stream that stops mid-reply, TLS failures, per-endpoint limits.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from engines import ChatMessage, Conversation, Generation, ModelError, SamplingParams
from engines.openai import OpenAIModel
from engines.registry import ModelSpec, build_model

CONV = Conversation("system", [ChatMessage("user", "hi", name="Alice")], bot_name="Bot")
PARAMS = SamplingParams(max_tokens=8, seed=1)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def completion(text: str = "Hello there") -> dict[str, object]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2}}


def chunk(text: str, finish: str | None = None) -> bytes:
    event = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
    return f"data: {json.dumps(event)}\n\n".encode()


class Upstream:
    """A loopback HTTP server answering chat completions with a script of handlers."""

    def __init__(self, *script: Handler, tokenize: Handler | None = None) -> None:
        self.script = list(script)
        self.tokenize = tokenize
        self.calls = 0
        self.active = 0
        self.peak = 0
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            handler = self.script[min(self.calls, len(self.script)) - 1]
            return await handler(request)
        finally:
            self.active -= 1

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        if self.tokenize is not None:
            app.router.add_post("/tokenize", self.tokenize)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/v1"
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def upstream() -> AsyncIterator[Callable[..., Awaitable[Upstream]]]:
    servers: list[Upstream] = []

    async def start(*script: Handler, tokenize: Handler | None = None) -> Upstream:
        server = Upstream(*script, tokenize=tokenize)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.stop()


def model_for(server: Upstream, tmp_path: Path, **kw: object) -> OpenAIModel:
    spec = ModelSpec.model_validate({"id": "faulty", "backend": "openai",
                                     "base_url": server.url, **kw})
    model = build_model(spec, tmp_path)
    assert isinstance(model, OpenAIModel)
    return model


def status(code: int, retry_after: str | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return web.json_response({"error": {"message": f"status {code}"}}, status=code,
                                 headers=headers)
    return handler


def ok(text: str = "Hello there") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(completion(text))
    return handler


def raw(body: bytes, content_type: str, *, stop_early: bool = False) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        await response.write(body)
        if stop_early:  # drop the connection without finishing the response
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response
    return handler


async def test_5xx_and_429_are_retried_honouring_retry_after(upstream, tmp_path: Path) -> None:
    server = await upstream(status(503, "0"), status(429, "0"), ok("third time lucky"))
    model = model_for(server, tmp_path, max_retries=2)
    gen = await model.generate(CONV, PARAMS)
    await model.close()
    assert gen.text == "third time lucky" and server.calls == 3


async def test_a_long_retry_after_fails_at_once(upstream, tmp_path: Path) -> None:
    server = await upstream(status(429, "3600"), ok())
    model = model_for(server, tmp_path, max_retries=3, max_retry_wait_s=5)
    with pytest.raises(ModelError, match="429"):
        await model.generate(CONV, PARAMS)
    await model.close()
    assert server.calls == 1  # the engine fails over instead of waiting an hour


@pytest.mark.parametrize("code", [401, 403, 400, 404])
async def test_client_errors_are_not_retried(upstream, tmp_path: Path, code: int) -> None:
    server = await upstream(status(code), ok())
    model = model_for(server, tmp_path, max_retries=3)
    with pytest.raises(ModelError, match=str(code)):
        await model.generate(CONV, PARAMS)
    await model.close()
    assert server.calls == 1


async def test_malformed_json_is_a_model_error(upstream, tmp_path: Path) -> None:
    server = await upstream(raw(b'{"choices": [oops', "application/json"))
    model = model_for(server, tmp_path)
    with pytest.raises(ModelError, match="malformed JSON"):
        await model.generate(CONV, PARAMS)
    await model.close()


async def test_malformed_sse_is_a_model_error(upstream, tmp_path: Path) -> None:
    server = await upstream(raw(chunk("Hi") + b"data: {not json\n\n", "text/event-stream"))
    model = model_for(server, tmp_path)
    items: list[object] = []
    with pytest.raises(ModelError, match="malformed JSON in event stream"):
        async for item in model.stream(CONV, PARAMS):
            items.append(item)
    await model.close()
    assert items == ["Hi"]  # no Generation: the reply is not complete


async def test_a_stream_that_stops_mid_reply_raises(upstream, tmp_path: Path) -> None:
    server = await upstream(raw(chunk("Once") + chunk(" upon"), "text/event-stream",
                                stop_early=True))
    model = model_for(server, tmp_path)
    items: list[object] = []
    with pytest.raises(ModelError, match=r"connection lost|stopped before the reply"):
        async for item in model.stream(CONV, PARAMS):
            items.append(item)
    await model.close()
    assert items == ["Once", " upon"]
    assert not any(isinstance(i, Generation) for i in items)


async def test_a_complete_stream_ends_with_done(upstream, tmp_path: Path) -> None:
    body = chunk("Once") + b": keep-alive\n\n" + chunk(" upon", "stop") + b"data: [DONE]\n\n"
    server = await upstream(raw(body, "text/event-stream"))
    model = model_for(server, tmp_path)
    items = [i async for i in model.stream(CONV, PARAMS)]
    await model.close()
    assert items[:2] == ["Once", " upon"]
    assert isinstance(items[-1], Generation) and items[-1].text == "Once upon"


async def test_each_endpoint_serves_at_most_its_concurrency(upstream, tmp_path: Path) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.05)
        return web.json_response(completion())

    server = await upstream(slow)
    model = model_for(server, tmp_path, concurrency=2)
    await asyncio.gather(*(model.generate(CONV, PARAMS) for _ in range(6)))
    await model.close()
    assert server.calls == 6 and server.peak == 2


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_tls_error_is_reported_and_not_retried(tmp_path: Path,
                                                       self_signed: ssl.SSLContext) -> None:
    server = Upstream(ok())
    await server.start(ssl_context=self_signed)
    try:
        model = model_for(server, tmp_path, max_retries=3)
        with pytest.raises(ModelError, match="TLS"):
            await model.generate(CONV, PARAMS)
        await model.close()
    finally:
        await server.stop()
    assert server.calls == 0


async def test_without_a_tokenizer_endpoint_tokens_are_estimated(upstream, tmp_path: Path
                                                                 ) -> None:
    server = await upstream(ok())
    model = model_for(server, tmp_path, n_ctx=512)
    assert await model.count_tokens("twelve bytes") == 4  # 3 bytes per token, rounded up
    assert model.tokenizer.dialect == "none"  # found out once: no more tokenize requests
    history = [ChatMessage("user", f"turn {i} " + "words " * 40, name="Al") for i in range(40)]
    request = await model._request(Conversation("sys", history, bot_name="Bot"),
                                   SamplingParams(max_tokens=64), stream=False)
    await model.close()
    sent = "".join(m["content"] for m in request.body["messages"])
    assert len(sent.encode()) <= (512 - 64 - 32) * 3  # fits the estimate, reply budget kept
    assert request.prompt.fitted.dropped_turns > 0


async def test_vllm_style_tokenize_is_used_when_offered(upstream, tmp_path: Path) -> None:
    async def tokenize(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if "prompt" not in body:
            return web.json_response({"detail": "prompt missing"}, status=422)
        return web.json_response({"count": len(body["prompt"].split()), "tokens": []})

    server = await upstream(ok(), tokenize=tokenize)
    model = model_for(server, tmp_path)
    assert await model.count_tokens("one two three") == 3
    assert model.tokenizer.dialect == "vllm"
    await model.close()
