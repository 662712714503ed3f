"""Output hygiene: what a model wrote, made safe to show. Reasoning blocks (`<think>…`)
go, a platform token or API key never leaves, and (Telegram) `@username` cannot ping."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
_TAGS = r"think|thinking|thought|reasoning|reflection|scratchpad"
_BLOCK = re.compile(rf"<(?P<tag>{_TAGS})\b[^>]*>.*?</(?P=tag)\s*>"
                    r"|<\|begin_of_thought\|>.*?<\|end_of_thought\|>",
                    re.IGNORECASE | re.DOTALL)
_OPEN = re.compile(rf"<(?:{_TAGS})\b[^>]*>|<\|begin_of_thought\|>", re.IGNORECASE)
_CLOSE = re.compile(rf"</(?:{_TAGS})\s*>|<\|end_of_thought\|>", re.IGNORECASE)
_PARTIAL_TAG = re.compile(r"<[/|A-Za-z_]*$")  # a tag still being written at the end
# shapes of credentials: Discord bot tokens, Telegram bot tokens, OpenAI/Anthropic/HF keys
_SHAPES = re.compile(
    r"\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}\b"
    r"|\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"
    r"|\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"
    r"|\bhf_[A-Za-z0-9]{30,}\b")
# a Telegram username: 5-32 of A-Z, a-z, 0-9 and _, starting with a letter
_MENTION = re.compile(r"(?<![\w@])@(?=[A-Za-z][A-Za-z0-9_]{3,31}\b)")
ZWJ = "\u200d"

def strip_reasoning(text: str) -> str:
    """`text` without reasoning blocks; a block left open runs to the end, and a closing tag
    with no opening (the template opened it in the prompt) ends one that began the text."""
    if "<" not in text:  # the common case, checked on every streamed piece
        return text
    text = _BLOCK.sub("", text)
    close = _CLOSE.search(text)
    if close is not None and _OPEN.search(text, 0, close.start()) is None:
        text = text[close.end():]
    text = _CLOSE.sub("", text)
    opened = _OPEN.search(text)
    if opened is not None:
        text = text[:opened.start()]
    return text


def visible_so_far(text: str) -> str:
    """What a streaming preview may show of a reply being written: no reasoning block, not
    even a partial one or half of its opening tag."""
    shown = strip_reasoning(text)
    return _PARTIAL_TAG.sub("", shown) if "<" in shown[-40:] else shown


class Secrets:
    """The values that must never be sent (the process's tokens and API keys, given by the
    composition root), and the shapes of credentials in general."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        kept = {v.strip() for v in values if v and len(v.strip()) >= 8}
        self._values = tuple(sorted(kept, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Secrets({len(self._values)} values)"

    def __call__(self, text: str) -> str:
        """`text` with every secret and every token-shaped string replaced."""
        for secret in self._values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SHAPES.sub(REDACTED, text)


def unping(text: str) -> str:
    """`@username` with a zero-width joiner after the `@`: it reads the same and Telegram
    sees no mention (it has no `allowed_mentions`)."""
    return _MENTION.sub("@" + ZWJ, text)
