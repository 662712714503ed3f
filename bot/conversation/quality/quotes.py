"""Reply chains: a message that replies to one no longer in the prompt's window carries
that message, quoted, so the model knows what is being answered."""

from __future__ import annotations

from collections.abc import Sequence

from engines import ChatMessage

from ..inbound import InboundEvent

QUOTE_CHARS = 400


def in_window(text: str, window: Sequence[ChatMessage]) -> bool:
    """Whether the replied-to `text` is (part of) a message of the window (a long reply is
    delivered in parts: the part is within the stored reply)."""
    wanted = " ".join(text.split())[:200]
    return any(wanted in " ".join(m.content.split()) for m in window)


def with_quote(event: InboundEvent, window: Sequence[ChatMessage], bot_name: str
               ) -> list[ChatMessage]:
    """`window` with the replied-to message quoted in its last turn, if it fell out."""
    history = list(window)
    quoted = (event.reply_to_text or "").strip()
    if not quoted or not history or history[-1].role != "user" or in_window(
            quoted, history[:-1]):
        return history
    if len(quoted) > QUOTE_CHARS:
        quoted = quoted[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
    author = event.reply_to_author or (bot_name if event.replies_to_bot else "someone")
    quote = "\n".join(f"> {line}" for line in quoted.splitlines())
    last = history[-1]
    history[-1] = ChatMessage(last.role, f"(replying to {author}:\n{quote})\n{last.content}",
                              name=last.name)
    return history
