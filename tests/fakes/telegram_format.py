"""How the Bot API reads a message's formatting: `entities` checked against the text, and
`parse_mode=MarkdownV2` parsed strictly (a reserved character not escaped, or an entity
left open, is a 400 "can't parse entities", as Telegram answers)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
TYPES = {"mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number",
         "bold", "italic", "underline", "strikethrough", "spoiler", "blockquote",
         "expandable_blockquote", "code", "pre", "text_link", "text_mention",
         "custom_emoji"}
RESERVED = set("_*[]()~`>#+-=|{}.!")
MARKS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough",
         "||": "spoiler"}


class CannotParse(ValueError):
    """The Bot API's "Bad Request: can't parse entities: …"."""


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_entities(text: str, entities: Any) -> list[JSON]:
    """The entities as Telegram keeps them; `CannotParse` for ones it would not accept."""
    if not isinstance(entities, list):
        raise CannotParse("entities must be an array")
    size = units(text)
    spans = []
    for e in entities:
        kind, offset, length = e.get("type"), e.get("offset"), e.get("length")
        if kind not in TYPES or not isinstance(offset, int) or not isinstance(length, int):
            raise CannotParse(f"unsupported entity {e!r}")
        if offset < 0 or length <= 0 or offset + length > size:
            raise CannotParse(f"entity {kind} at {offset}+{length} is outside the text "
                              f"({size} UTF-16 code units)")
        if kind == "text_link" and not str(e.get("url", "")).startswith(
                ("http://", "https://", "tg://")):
            raise CannotParse("wrong HTTP URL")
        spans.append((offset, offset + length, kind))
    for a_start, a_end, a_kind in spans:  # code and pre hold no other entity; no overlaps
        for b_start, b_end, b_kind in spans:
            if (a_start, a_end, a_kind) == (b_start, b_end, b_kind):
                continue
            inside = a_start <= b_start and b_end <= a_end
            apart = b_end <= a_start or a_end <= b_start
            if inside and a_kind in ("code", "pre"):
                raise CannotParse(f"{b_kind} entity inside {a_kind}")
            if not inside and not apart and not (b_start <= a_start and a_end <= b_end):
                raise CannotParse(f"entities {a_kind} and {b_kind} overlap")
    return list(entities)


def parse_markdown_v2(source: str) -> tuple[str, list[JSON]]:
    """Text and entities of a MarkdownV2 message, strictly as the Bot API parses it."""
    text = ""
    entities: list[JSON] = []
    stack: list[tuple[str, int, int]] = []  # (mark, text offset, source byte offset)
    i = 0
    while i < len(source):
        ch = source[i]
        at = len(source[:i].encode())
        if ch == "\\":
            if i + 1 >= len(source) or not 1 <= ord(source[i + 1]) <= 126:
                raise CannotParse("Character '\\' is reserved and must be escaped with the "
                                  "preceding '\\'")
            text += source[i + 1]
            i += 2
            continue
        if source.startswith("```", i):
            end = source.find("```", i + 3)
            if end < 0:
                raise CannotParse(f"Can't find end of pre entity at byte offset {at}")
            body = source[i + 3:end]
            language, _, code = body.partition("\n") if "\n" in body else ("", "", body)
            start = units(text)
            text += code.replace("\\`", "`").replace("\\\\", "\\")
            entity: JSON = {"type": "pre", "offset": start, "length": units(text) - start}
            if language:
                entity["language"] = language
            entities.append(entity)
            i = end + 3
            continue
        if ch == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise CannotParse(f"Can't find end of code entity at byte offset {at}")
            start = units(text)
            text += source[i + 1:end]
            entities.append({"type": "code", "offset": start, "length": units(text) - start})
            i = end + 1
            continue
        mark = source[i:i + 2] if source[i:i + 2] in ("__", "||") else ch
        if mark in MARKS:
            if stack and stack[-1][0] == mark:
                _, start, _ = stack.pop()
                entities.append({"type": MARKS[mark], "offset": start,
                                 "length": units(text) - start})
            else:
                stack.append((mark, units(text), at))
            i += len(mark)
            continue
        if ch == "[":
            stack.append(("[", units(text), at))
            i += 1
            continue
        if ch == "]" and stack and stack[-1][0] == "[":
            _, start, _ = stack.pop()
            if not source.startswith("(", i + 1) or (close := source.find(")", i + 2)) < 0:
                raise CannotParse(f"Can't find end of a URL at byte offset {at}")
            entities.append({"type": "text_link", "offset": start,
                             "length": units(text) - start, "url": source[i + 2:close]})
            i = close + 1
            continue
        if ch == ">" and (i == 0 or source[i - 1] == "\n"):
            i += 1  # a quoted line (its entity is not needed by the tests)
            continue
        if ch in RESERVED:
            raise CannotParse(f"Character '{ch}' is reserved and must be escaped with the "
                              f"preceding '\\'")
        text += ch
        i += 1
    if stack:
        _, _, at = stack[-1]
        raise CannotParse(f"Can't find end of the entity starting at byte offset {at}")
    return text, [e for e in entities if e["length"] > 0]
