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


class StreamError(ValueError):
    """The event stream broke the protocol."""


class StreamEnded(StreamError):
    """The event stream stopped before `[DONE]`."""


async def sse_data(lines: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The `data` field of each event (multi-line data joined with newlines)."""
    data: list[str] = []
    async for raw in lines:
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise StreamError(f"event stream is not UTF-8: {exc}") from exc
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
        # other fields (event, id, retry) carry nothing for completions
    if data:
        yield "\n".join(data)


async def stream_json(lines: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Each event as a JSON object, until `[DONE]`."""
    async for data in sse_data(lines):
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
