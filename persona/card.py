"""Character Cards V1, V2 and V3 (SillyTavern / TavernAI / chub): parse, validate, write V2.

Cards are normalised to the V2 `data` fields. Unknown fields, `extensions` and the raw
`character_book` are kept as they came, so an export → import round trip loses nothing.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import CardError
from .lorebook import Lorebook

MAX_CARD_CHARS = 1_000_000
SPEC_V1, SPEC_V2, SPEC_V3 = "chara_card_v1", "chara_card_v2", "chara_card_v3"
_TEXT_FIELDS = (
    "description", "personality", "scenario", "first_mes", "mes_example", "creator_notes",
    "system_prompt", "post_history_instructions", "creator", "character_version",
)
# Pygmalion / old TavernAI names for the V1 fields.
_V1_ALIASES = {
    "char_name": "name",
    "char_persona": "personality",
    "world_scenario": "scenario",
    "char_greeting": "first_mes",
    "example_dialogue": "mes_example",
}


class CardData(BaseModel):
    """The V2 `data` object; extra keys (V3 fields, tool-specific ones) are kept as-is."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    creator: str = ""
    character_version: str = ""
    extensions: dict[str, Any] = Field(default_factory=dict)
    character_book: dict[str, Any] | None = None

    @field_validator(*_TEXT_FIELDS, mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("alternate_greetings", "tags", mode="before")
    @classmethod
    def _null_is_no_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name is empty")
        return value.strip()


class CharacterCard(BaseModel):
    """A card as imported: which spec it came in, its data, and unknown top-level fields."""

    spec: str
    spec_version: str = ""
    data: CardData
    top_level: dict[str, Any] = Field(default_factory=dict)  # e.g. V1 mirror fields of V2

    @property
    def name(self) -> str:
        return self.data.name

    def lorebook(self) -> Lorebook | None:
        book = self.data.character_book
        return Lorebook.from_character_book(book) if book else None

    def to_v2(self) -> dict[str, Any]:
        """The V2 JSON object (top-level extras first, so `spec`/`data` always win)."""
        return {
            **self.top_level,
            "spec": SPEC_V2,
            "spec_version": "2.0",
            "data": self.data.model_dump(mode="json"),
        }

    def to_v2_json(self) -> str:
        return json.dumps(self.to_v2(), ensure_ascii=False)


def parse_card(obj: Any) -> CharacterCard:
    """A `CharacterCard` from decoded JSON of any supported spec, or `CardError`."""
    if not isinstance(obj, dict):
        raise CardError("the card is not a JSON object")
    spec = obj.get("spec")
    try:
        if spec in (SPEC_V2, SPEC_V3):
            data = obj.get("data")
            if not isinstance(data, dict):
                raise CardError(f"{spec} card has no 'data' object")
            top = {k: v for k, v in obj.items() if k not in ("spec", "spec_version", "data")}
            card = CharacterCard(spec=spec, spec_version=str(obj.get("spec_version", "")),
                                 data=CardData.model_validate(data), top_level=top)
        elif spec is None:
            if "entries" in obj and "name" not in obj and "char_name" not in obj:
                raise CardError("this is a World Info lorebook, not a character card; "
                                "import it with `blendbot lorebook import`")
            flat = {_V1_ALIASES.get(k, k): v for k, v in obj.items()}
            card = CharacterCard(spec=SPEC_V1, spec_version="1.0",
                                 data=CardData.model_validate(flat))
        else:
            raise CardError(f"unsupported card spec '{spec}' "
                            f"(supported: {SPEC_V1}, {SPEC_V2}, {SPEC_V3})")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "card"
        raise CardError(f"invalid card field '{where}': {first['msg']}") from None
    _check_size(card)
    card.lorebook()  # validates the character_book, raising CardError
    return card


def parse_card_json(text: str | bytes) -> CharacterCard:
    if len(text) > MAX_CARD_CHARS * 4:
        raise CardError("the card is larger than 1 MB of text")
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"the card is not valid JSON ({exc})") from None
    except RecursionError:
        raise CardError("the card JSON is nested too deeply") from None
    return parse_card(obj)


def _check_size(card: CharacterCard) -> None:
    size = len(json.dumps(card.data.model_dump(mode="json"), ensure_ascii=False))
    if size > MAX_CARD_CHARS:
        raise CardError(f"the card has {size:,} characters of text; the limit is 1 MB")
