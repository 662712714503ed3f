"""Lorebooks: V2 `character_book` and SillyTavern World Info, and the keyword scan.

An entry is in the prompt when it is enabled and either constant or one of its keys occurs
at the start of a word (so "beast" also finds "beasts") in the last `scan_depth` messages;
a `selective` entry also needs one of its `secondary_keys`. The answering model keeps what
fits its token budget, most important first (higher `priority`, then lower
`insertion_order`), and inserts them by `insertion_order`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engines.base import LoreText

from .errors import CardError

DEFAULT_SCAN_DEPTH = 4


class LoreEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    keys: list[str] = Field(default_factory=list)
    content: str = ""
    enabled: bool = True
    insertion_order: int = 0
    priority: int | None = None
    constant: bool = False
    selective: bool = False
    secondary_keys: list[str] = Field(default_factory=list)
    case_sensitive: bool | None = None
    name: str | None = None
    comment: str | None = None

    @field_validator("keys", "secondary_keys", mode="before")
    @classmethod
    def _keys_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):  # some tools write "a, b"
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("insertion_order", mode="before")
    @classmethod
    def _order_int(cls, value: Any) -> Any:
        return 0 if value is None else value

    def matches(self, text: str) -> bool:
        if not self.enabled or not self.content.strip():
            return False
        if self.constant:
            return True
        if not _any_key(self.keys, text, bool(self.case_sensitive)):
            return False
        return not self.selective or not self.secondary_keys or _any_key(
            self.secondary_keys, text, bool(self.case_sensitive)
        )


class Lorebook(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    description: str | None = None
    scan_depth: int | None = Field(default=None, ge=0)
    token_budget: int | None = Field(default=None, ge=0)
    entries: list[LoreEntry] = Field(default_factory=list)

    @classmethod
    def from_character_book(cls, book: Any) -> Lorebook:
        try:
            return cls.model_validate(book)
        except ValidationError as exc:
            raise _lore_error(exc, "character_book") from None

    @classmethod
    def from_world_info(cls, obj: Any, name: str | None = None) -> Lorebook:
        """A SillyTavern World Info file: `{"entries": {"0": {"key": [...], ...}, ...}}`."""
        if not isinstance(obj, dict) or not isinstance(obj.get("entries"), dict | list):
            raise CardError("not a World Info file: expected a JSON object with 'entries'")
        raw = obj["entries"]
        items = raw.values() if isinstance(raw, dict) else raw
        entries: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, dict):
                raise CardError("a World Info entry is not a JSON object")
            entries.append({
                "keys": item.get("key", item.get("keys")),
                "secondary_keys": item.get("keysecondary", item.get("secondary_keys")),
                "content": item.get("content") or "",
                "enabled": not item.get("disable", False),
                "insertion_order": item.get("order", item.get("insertion_order", 0)),
                "constant": bool(item.get("constant", False)),
                "selective": bool(item.get("selective", False)),
                "case_sensitive": item.get("caseSensitive"),
                "comment": item.get("comment"),
            })
        try:
            return cls.model_validate({
                "name": obj.get("name") or name, "entries": entries,
                "scan_depth": obj.get("scan_depth"), "token_budget": obj.get("token_budget")})
        except ValidationError as exc:
            raise _lore_error(exc, "World Info") from None

    def scan(self, recent: Sequence[str]) -> tuple[LoreText, ...]:
        """Entries triggered by the last `scan_depth` messages, most important first."""
        depth = self.scan_depth if self.scan_depth is not None else DEFAULT_SCAN_DEPTH
        window = "\n".join(recent[-depth:]) if depth else ""
        hits = [e for e in self.entries if e.matches(window)]
        hits.sort(key=lambda e: (-(e.priority or 0), e.insertion_order))
        return tuple(LoreText(e.content, e.insertion_order) for e in hits)


def _any_key(keys: Sequence[str], text: str, case_sensitive: bool) -> bool:
    flags = 0 if case_sensitive else re.IGNORECASE
    for key in keys:
        key = key.strip()
        if key and re.search(rf"(?<!\w){re.escape(key)}", text, flags):
            return True
    return False


def _lore_error(exc: ValidationError, what: str) -> CardError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return CardError(f"invalid {what} field '{where}': {first['msg']}")
