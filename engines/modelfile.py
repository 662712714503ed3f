"""Is a model file usable as it is? A GGUF file starts with the magic `GGUF` and is at least
a few hundred KB (a header alone, or a download cut off at the start, is not a model); an
assembled file must have exactly the size of the chunks it is made of."""

from __future__ import annotations

from pathlib import Path

GGUF_MAGIC = b"GGUF"
MIN_GGUF_BYTES = 256 * 1024


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def file_problem(path: Path, expected_size: int | None = None, gguf: bool = True
                 ) -> str | None:
    """Why `path` cannot be loaded (None: it looks like a whole model file)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        return f"model file not found: {path}"
    except OSError as exc:
        return f"cannot read model file {path}: {exc.strerror or exc}"
    if expected_size is not None and size != expected_size:
        return f"model file {path} is broken: {_mb(size)} of {_mb(expected_size)} (truncated)"
    if gguf and magic != GGUF_MAGIC:
        return f"model file {path} is not a GGUF file (it starts with {magic!r})"
    if gguf and size < MIN_GGUF_BYTES:
        return f"model file {path} is too small to be a model ({size} bytes)"
    return None
