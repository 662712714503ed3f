"""Markdown from a model as Telegram text with entities (bold, italic, code, code blocks,
links, quotes; lists as `•` or numbered lines), so nothing needs escaping and nothing can
fail to parse. Offsets and lengths are UTF-16 code units, as Telegram counts them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from telegram import MessageEntity

_PARSER = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_INLINE = {"strong": MessageEntity.BOLD, "em": MessageEntity.ITALIC,
           "s": MessageEntity.STRIKETHROUGH}


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji may count twice)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(slots=True)
class _Out:
    text: str = ""
    entities: list[MessageEntity] = field(default_factory=list)

    @property
    def at(self) -> int:
        return units(self.text)

    def add(self, text: str) -> None:
        self.text += text

    def entity(self, kind: str, start: int, **extra: str) -> None:
        length = self.at - start
        if length > 0:
            self.entities.append(MessageEntity(kind, start, length, **extra))  # type: ignore[arg-type]


def to_entities(markdown: str) -> tuple[str, tuple[MessageEntity, ...]]:
    """The text a reader sees and its entities; plain text when there is no Markdown."""
    out = _Out()
    _blocks(_PARSER.parse(markdown), out)
    text = out.text.rstrip()
    end = units(text)
    kept = []
    for e in out.entities:  # trailing blank lines trimmed: entities end within the text
        if e.offset < end:
            kept.append(MessageEntity(e.type, e.offset, min(e.length, end - e.offset),
                                      url=e.url, language=e.language))
    return text, tuple(sorted(kept, key=lambda e: (e.offset, -e.length)))


def _blocks(tokens: Sequence[Token], out: _Out) -> None:
    lists: list[list[int]] = []  # per open list: [next number] (empty: bullets)
    quotes: list[int] = []
    headings: list[int] = []
    tight: list[bool] = []

    def separate() -> None:
        if out.text and not out.text.endswith("\n"):
            out.add("\n")
        if out.text and not out.text.endswith("\n\n") and not (tight and tight[-1]):
            out.add("\n")

    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            separate()
            start = int(token.attrGet("start") or 1) if kind == "ordered_list_open" else 0
            lists.append([start] if kind == "ordered_list_open" else [])
            tight.append(True)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            tight.pop()
            separate()
        elif kind == "list_item_open":
            if out.text and not out.text.endswith("\n"):
                out.add("\n")
            depth = "  " * (len(lists) - 1)
            numbers = lists[-1] if lists else []
            if numbers:
                out.add(f"{depth}{numbers[0]}. ")
                numbers[0] += 1
            else:
                out.add(f"{depth}• ")
        elif kind == "paragraph_open":
            if not (lists and out.text.endswith(" ")):
                separate()
        elif kind == "heading_open":
            separate()
            headings.append(out.at)
        elif kind == "heading_close":
            out.entity(MessageEntity.BOLD, headings.pop())
        elif kind == "blockquote_open":
            separate()
            quotes.append(out.at)
        elif kind == "blockquote_close":
            out.text = out.text.rstrip("\n")
            out.entity(MessageEntity.BLOCKQUOTE, quotes.pop())
        elif kind in ("fence", "code_block"):
            separate()
            start = out.at
            out.add(token.content.rstrip("\n"))
            language = token.info.split()[0] if token.info.strip() else ""
            if language:
                out.entity(MessageEntity.PRE, start, language=language)
            else:
                out.entity(MessageEntity.PRE, start)
        elif kind == "hr":
            separate()
            out.add("———")
        elif kind == "inline":
            _inline(token.children or [], out)
        elif kind == "html_block":
            separate()
            out.add(token.content.rstrip("\n"))


def _inline(tokens: Sequence[Token], out: _Out) -> None:
    open_at: list[tuple[str, int, str]] = []
    for token in tokens:
        kind = token.type
        if kind == "text" or kind == "html_inline":
            out.add(token.content)
        elif kind in ("softbreak", "hardbreak"):
            out.add("\n")
        elif kind == "code_inline":
            start = out.at
            out.add(token.content)
            out.entity(MessageEntity.CODE, start)
        elif kind.endswith("_open"):
            tag = kind[: -len("_open")]
            open_at.append((tag, out.at, str(token.attrGet("href") or "")))
        elif kind.endswith("_close") and open_at:
            tag, start, href = open_at.pop()
            if tag in _INLINE:
                out.entity(_INLINE[tag], start)
            elif tag == "link" and href.startswith(("http://", "https://")):
                out.entity(MessageEntity.TEXT_LINK, start, url=href)
        elif kind == "image":
            out.add(token.content)
