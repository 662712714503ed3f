"""Read character cards and lorebooks from files (PNG or JSON), with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .card import MAX_CARD_CHARS, CharacterCard, parse_card_json
from .errors import CardError
from .lorebook import Lorebook
from .png import MAX_PNG_BYTES, PNG_SIGNATURE, read_card_text


def _read(path: Path, limit: int) -> bytes:
    try:
        if path.stat().st_size > limit:
            raise CardError(f"{path} is larger than {limit // (1024 * 1024)} MB")
        return path.read_bytes()
    except FileNotFoundError:
        raise CardError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CardError(f"{path} is a directory, not a card file") from None
    except OSError as exc:
        raise CardError(f"cannot read {path}: {exc.strerror}") from None


def load_card(data: bytes) -> tuple[CharacterCard, bytes | None]:
    """A card from PNG or JSON bytes, and the PNG image when there is one."""
    if data.startswith(PNG_SIGNATURE):
        return parse_card_json(read_card_text(data)), data
    if data.lstrip()[:1] in (b"{", b"["):
        return parse_card_json(data), None
    raise CardError("not a character card: expected a PNG or JSON file")


def load_card_file(path: Path) -> tuple[CharacterCard, bytes | None]:
    return load_card(_read(path, MAX_PNG_BYTES))


def load_lorebook_file(path: Path) -> Lorebook:
    """A SillyTavern World Info JSON file, or a bare V2 `character_book` object."""
    data = _read(path, MAX_CARD_CHARS * 4)
    try:
        obj: Any = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"the lorebook is not valid JSON ({exc})") from None
    if isinstance(obj, dict) and isinstance(obj.get("entries"), list):
        book = Lorebook.from_character_book(obj)
    else:
        book = Lorebook.from_world_info(obj, name=path.stem)
    return book if book.name else book.model_copy(update={"name": path.stem})
