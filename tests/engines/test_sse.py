"""Server-sent events read from the socket in chunks of any size, as servers stream them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engines.sse import MAX_LINE, StreamEnded, StreamError, sse_data, stream_json

STREAM = ('data: {"t": "Hé"}\n\n: keep-alive\n\nevent: x\ndata: {"t":\ndata: "llo"}\r\n\r\n'
          'data: [DONE]\n\n').encode()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
async def test_events_are_the_same_however_the_bytes_are_cut(size: int) -> None:
    # size 1 and 2 cut "é" (two UTF-8 bytes) in half: a line is decoded once it is whole
    events = [e async for e in stream_json(pieces(STREAM, size))]
    assert events == [{"t": "Hé"}, {"t": "llo"}]


async def test_data_without_a_final_blank_line_is_still_an_event() -> None:
    assert [d async for d in sse_data(pieces(b"data: one\ndata: two", 4))] == ["one\ntwo"]


async def test_a_stream_that_stops_early_or_never_ends_a_line_is_an_error() -> None:
    with pytest.raises(StreamEnded):
        [e async for e in stream_json(pieces(b'data: {"t": 1}\n\n', 5))]
    with pytest.raises(StreamError, match="longer than"):
        [d async for d in sse_data(pieces(b"data: " + b"x" * (MAX_LINE + 10), 65536))]
