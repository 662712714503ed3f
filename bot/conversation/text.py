"""Splitting long replies for platforms with a message length limit."""

from __future__ import annotations

FENCE = "```"


def split_message(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` characters, cut at line, then word, boundaries.

    A code block cut in two is closed at the end of one part and reopened (with its
    language) at the start of the next, so every part renders on its own.
    """
    if limit < 20:
        raise ValueError("limit too small")
    parts: list[str] = []
    rest = text.strip("\n")
    opener: str | None = None  # the fence line of a code block still open
    while rest:
        prefix = f"{opener}\n" if opener else ""
        room = limit - len(prefix) - (len(FENCE) + 1)  # keep space to close a fence
        if len(prefix) + len(rest) <= limit and _open_fence(prefix + rest) is None:
            parts.append(prefix + rest)
            break
        cut = _cut_point(rest, room) if len(rest) > room else len(rest)
        chunk, rest = prefix + rest[:cut].rstrip(), rest[cut:].lstrip("\n ")
        opener = _open_fence(chunk)
        if opener is not None:
            chunk += "\n" + FENCE
        parts.append(chunk)
    return [p for p in parts if p.strip()] or ([text[:limit]] if text else [])


def _cut_point(text: str, room: int) -> int:
    window = text[: room + 1]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep)
        if at > room // 3:
            return at
    return room


def _open_fence(text: str) -> str | None:
    """The opening fence line (e.g. "```python") if `text` leaves a code block open."""
    opener = None
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(FENCE):
            info = stripped[len(FENCE) :]
            lang = info if info.replace("-", "").replace("+", "").isalnum() else ""
            opener = None if opener is not None else FENCE + lang
    return opener
