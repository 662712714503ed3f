"""Server-sent events, as OpenAI-compatible servers stream completions.

`sse_data` yields the `data` of each event from a byte stream; `stream_json` decodes them as
JSON until `[DONE]`, raising `StreamError` on malformed events and `StreamEnded` when the
stream stops before `[DONE]`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

DONE = "[DONE]"
MAX_LINE = 1 << 20  # bytes of one line of the stream


class StreamError(ValueError):
    """The event stream broke the protocol."""


class StreamEnded(StreamError):
    """The event stream stopped before `[DONE]`."""


async def sse_data(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The `data` field of each event (multi-line data joined with newlines), from bytes in
    chunks of any size (whole lines or whatever the socket delivered: a server streams a
    reply as many small events, and reading them line by line costs more than splitting)."""
    data: list[str] = []
    tail = b""
    async for chunk in chunks:
        lines = (tail + chunk).split(b"\n") if tail else chunk.split(b"\n")
        tail = lines.pop()  # an unfinished line waits for the rest
        if len(tail) > MAX_LINE:
            raise StreamError(f"an event line is longer than {MAX_LINE} bytes")
        for raw in lines:
            event = _line(raw, data)
            if event is not None:
                yield event
    if tail:
        _line(tail, data)
    if data:
        yield "\n".join(data)


def _line(raw: bytes, data: list[str]) -> str | None:
    """Take one line into `data`; an empty line ends an event: its data, if any."""
    try:
        line = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise StreamError(f"event stream is not UTF-8: {exc}") from exc
    if not line:
        if data:
            event = "\n".join(data)
            data.clear()
            return event
        return None
    if line.startswith(":"):
        return None  # comment / keep-alive
    field, _, value = line.partition(":")
    if field == "data":
        data.append(value[1:] if value.startswith(" ") else value)
    # other fields (event, id, retry) carry nothing for completions
    return None


async def stream_json(chunks: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Each event as a JSON object, until `[DONE]`."""
    async for data in sse_data(chunks):
        if data.strip() == DONE:
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise StreamError(f"malformed JSON in event stream: {_clip(data)}") from exc
        if not isinstance(event, dict):
            raise StreamError(f"unexpected event in stream: {_clip(data)}")
        yield event
    raise StreamEnded("the stream stopped before the reply was complete")


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
