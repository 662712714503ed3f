"""Reading a streamed HTTP body in batches: fewer wake-ups per streamed reply.

A server streams a reply as one small event per token, each in its own TCP segment, so a
reader woken for every segment wakes 20-50 times a second per reply, and each wake-up of an
idle process costs far more CPU than parsing the event. `batched_chunks` pauses the
socket's reading for `window_s` after each chunk it hands on: the tokens that arrive
meanwhile wait in the kernel's buffer and are read at once when the window ends. The reader
sees each token at most `window_s` late, except the first words: until `started()` says the
reader has them, every chunk is read as soon as it arrives. (OpenAI, vLLM and llama.cpp's
server all send a chunk with no text, the reply's role, before the first token: a window
opened by that chunk would hold the first words back.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp


async def batched_chunks(response: aiohttp.ClientResponse, window_s: float,
                         started: Callable[[], bool] = lambda: True) -> AsyncIterator[bytes]:
    """The body of `response` as it arrives, read at most once per `window_s` from the chunk
    after which `started()` holds."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    if window_s <= 0 or transport is None or not hasattr(transport, "pause_reading"):
        async for chunk in response.content.iter_any():
            yield chunk
        return
    loop = asyncio.get_running_loop()
    resume: asyncio.TimerHandle | None = None

    def read_again() -> None:
        nonlocal resume
        resume = None
        if not transport.is_closing():
            transport.resume_reading()

    try:
        async for chunk in response.content.iter_any():
            yield chunk
            if (resume is None and started() and not transport.is_closing()
                    and transport.is_reading()):
                transport.pause_reading()
                resume = loop.call_later(window_s, read_again)
    finally:
        if resume is not None:
            resume.cancel()
            read_again()
