"""Fit a conversation into one model's context window, measured with that model's tokenizer.

Matched lore is kept within its token budget; then, when the prompt is too long, example
dialogues go first, then the oldest turns; the system part and the newest turn stay and the
reply budget is reserved. A last turn too long on its own is cut, with a notice for the user.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from .base import Conversation, LoreText
from .prompts import PromptFormat, RenderedPrompt

MIN_MESSAGE_TOKENS = 16


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, tokens: list[int]) -> str: ...


@dataclass(frozen=True, slots=True)
class FittedPrompt:
    prompt: RenderedPrompt
    tokens: list[int]
    conversation: Conversation
    dropped_turns: int
    notices: tuple[str, ...]


def select_lore(conversation: Conversation, tokenizer: Tokenizer, n_ctx: int) -> Conversation:
    """Keep the most important matched lore within its token budget, in insertion order."""
    if not conversation.lore:
        return conversation
    budget = min(conversation.lore_budget or n_ctx // 4, n_ctx // 2)
    chosen: list[LoreText] = []
    used = 0
    for entry in conversation.lore:  # most important first
        cost = len(tokenizer.encode(entry.content))
        if used + cost <= budget:
            chosen.append(entry)
            used += cost
    chosen.sort(key=lambda e: e.order)
    return replace(conversation, lore=tuple(chosen))


def select_facts(conversation: Conversation, tokenizer: Tokenizer, n_ctx: int
                 ) -> Conversation:
    """Keep the newest pinned facts within their token budget (the oldest go first)."""
    if not conversation.facts:
        return conversation
    budget = min(conversation.facts_budget or n_ctx // 8, n_ctx // 4)
    kept: list[str] = []
    used = 0
    for fact in reversed(conversation.facts):
        cost = len(tokenizer.encode(f"- {fact}\n"))
        if used + cost > budget:
            break
        kept.insert(0, fact)
        used += cost
    return replace(conversation, facts=tuple(kept))


def reply_budget(n_ctx: int, max_tokens: int) -> int:
    """Tokens reserved for the reply: what was asked, but never more than half the window."""
    return max(1, min(max_tokens, n_ctx // 2))


def fit_conversation(
    conversation: Conversation,
    fmt: PromptFormat,
    tokenizer: Tokenizer,
    n_ctx: int,
    max_tokens: int,
) -> FittedPrompt:
    """Drop the oldest turns (binary search) until prompt + reply fit in `n_ctx`."""
    budget = n_ctx - reply_budget(n_ctx, max_tokens) - 1  # 1 spare for a BOS token
    conversation = select_facts(select_lore(conversation, tokenizer, n_ctx), tokenizer, n_ctx)
    history = list(conversation.history)
    notices: list[str] = []

    def attempt(conv: Conversation) -> tuple[RenderedPrompt, list[int]]:
        rendered = fmt.render(conv)
        return rendered, tokenizer.encode(rendered.text)

    rendered, tokens = attempt(conversation)
    if len(tokens) <= budget:
        return FittedPrompt(rendered, tokens, conversation, 0, ())

    # Example dialogues go first, the last block first.
    while conversation.examples:
        conversation = replace(conversation, examples=conversation.examples[:-1])
        rendered, tokens = attempt(conversation)
        if len(tokens) <= budget:
            return FittedPrompt(rendered, tokens, conversation, 0, ())

    # Smallest number of oldest turns to drop so the rest fits; the last turn always stays.
    lo, hi = 1, max(len(history) - 1, 0)
    best: tuple[int, RenderedPrompt, list[int]] | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = replace(conversation, history=history[mid:])
        r, t = attempt(candidate)
        if len(t) <= budget:
            best, hi = (mid, r, t), mid - 1
        else:
            lo = mid + 1
    if best is not None:
        dropped, rendered, tokens = best
        return FittedPrompt(
            rendered, tokens, replace(conversation, history=history[dropped:]), dropped, ()
        )

    # Only the newest turn is left and it still does not fit: cut the system part if it alone
    # hogs the window, then cut the turn itself to what is left.
    dropped = max(len(history) - 1, 0)
    conv = replace(conversation, history=history[dropped:], lore=())
    if history:
        conv, notes = _cut_last_turn(conv, fmt, tokenizer, budget)
        notices.extend(notes)
    rendered, tokens = attempt(conv)
    if len(tokens) > budget:  # still too long (pathological template): keep the tail
        tokens = tokens[-budget:]
        rendered = replace(rendered, text=tokenizer.decode(tokens))
    return FittedPrompt(rendered, tokens, conv, dropped, tuple(notices))


def _cut_last_turn(
    conv: Conversation, fmt: PromptFormat, tokenizer: Tokenizer, budget: int
) -> tuple[Conversation, list[str]]:
    notices: list[str] = []
    last = conv.history[-1]
    empty = replace(conv, history=[replace(last, content="")])
    overhead = len(tokenizer.encode(fmt.render(empty).text))
    if budget - overhead < MIN_MESSAGE_TOKENS and conv.system:
        system_tokens = tokenizer.encode(conv.system)
        keep = max(0, len(system_tokens) - (overhead + MIN_MESSAGE_TOKENS * 4 - budget))
        conv = replace(conv, system=tokenizer.decode(system_tokens[:keep]))
        empty = replace(empty, system=conv.system)
        overhead = len(tokenizer.encode(fmt.render(empty).text))
        notices.append("The character description was too long for this model and was shortened.")
    allowed = max(MIN_MESSAGE_TOKENS, budget - overhead - 2)
    content_tokens = tokenizer.encode(last.content)
    if len(content_tokens) > allowed:
        cut = tokenizer.decode(content_tokens[:allowed])
        conv = replace(conv, history=[replace(last, content=cut)])
        notices.append(
            f"Your message was too long for this model's context; only its first {allowed} "
            f"of {len(content_tokens)} tokens were read."
        )
    return conv, notices
