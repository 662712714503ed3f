"""Character cards inside PNG files: base64 JSON in a `tEXt` chunk (`chara` V1/V2, `ccv3` V3).

Chunks are read and written without decoding the image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import zlib

from .errors import CardError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORDS = (b"ccv3", b"chara")  # V3 wins when a file carries both
MAX_PNG_BYTES = 50 * 1024 * 1024


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise CardError("not a PNG file")
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise CardError("the PNG file is truncated")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise CardError("the PNG file is truncated")
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos = end
        if kind == b"IEND":
            break
    return chunks


def _text_chunk(kind: bytes, body: bytes) -> tuple[bytes, str] | None:
    """(keyword, text) of a tEXt or uncompressed iTXt chunk."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep:
        return None
    if kind == b"tEXt":
        return keyword, rest.decode("latin-1")
    if kind == b"iTXt" and len(rest) >= 2 and rest[0] == 0:  # not compressed
        _lang, _, rest = rest[2:].partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        return keyword, text.decode("utf-8", errors="replace")
    return None


def read_card_text(data: bytes) -> str:
    """The card JSON text embedded in a PNG, or `CardError`."""
    if len(data) > MAX_PNG_BYTES:
        raise CardError("the PNG file is larger than 50 MB")
    found: dict[bytes, str] = {}
    for kind, body in _chunks(data):
        if kind in (b"tEXt", b"iTXt"):
            parsed = _text_chunk(kind, body)
            if parsed and parsed[0] in CARD_KEYWORDS:
                found.setdefault(parsed[0], parsed[1])
    for keyword in CARD_KEYWORDS:
        if keyword in found:
            try:
                return base64.b64decode(found[keyword].strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError) as exc:
                raise CardError(f"the PNG's '{keyword.decode()}' chunk is not valid base64 "
                                f"UTF-8 ({exc})") from None
    raise CardError("the PNG has no character card (no 'chara' or 'ccv3' text chunk)")


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def write_card_png(card_json: str, image: bytes | None = None) -> bytes:
    """`image` (or a default avatar) with the card as a V2 `chara` chunk before IEND."""
    base = image if image is not None else default_avatar(card_json)
    kept = []
    for kind, body in _chunks(base):
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            keyword = body.partition(b"\0")[0]
            if keyword in CARD_KEYWORDS:
                continue
        if kind == b"IEND":
            break
        kept.append(_chunk(kind, body))
    payload = base64.b64encode(card_json.encode("utf-8"))
    return b"".join([PNG_SIGNATURE, *kept, _chunk(b"tEXt", b"chara\0" + payload),
                     _chunk(b"IEND", b"")])


def default_avatar(seed: str, size: int = 256) -> bytes:
    """A plain RGB PNG: a two-colour diagonal gradient picked from `seed`."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    c1, c2 = digest[:3], digest[3:6]
    steps = 2 * size - 1  # the colour depends on x + y only
    ramp = bytes(
        round(a + (b - a) * i / (steps - 1))
        for i in range(steps)
        for a, b in zip(c1, c2, strict=True)
    )
    rows = b"".join(b"\0" + ramp[3 * y : 3 * (y + size)] for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"".join([PNG_SIGNATURE, _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(rows, 9)), _chunk(b"IEND", b"")])
