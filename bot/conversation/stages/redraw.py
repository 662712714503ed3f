"""Drawing a reply again: the one way a stage has a reply written anew (the loop guard for
a looping reply, output moderation for a flagged one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engines import Generation, ReplyRequest

from ..pipeline import Turn
from .generate import Generate


async def draw_again(generate: Generate, turn: Turn, first: ReplyRequest,
                     avoid: Sequence[str]) -> Generation | None:
    """Another reply to `first`'s prompt from a member not in `avoid` (a one-model blend
    samples again with a fresh seed: `params.seed` is unset). None: the redraw failed
    (the turn goes on; its outcome is left unset). `turn.request` is `first` afterwards."""
    single = first.blend.mode == "single"
    keep_out = () if single else tuple(dict.fromkeys((*first.avoid, *avoid)))
    turn.request = replace(first, avoid=keep_out)
    turn.generation = None
    try:
        await generate(turn, _wrote)
        written = turn.generation if turn.outcome is None else None
    finally:
        turn.outcome, turn.request = None, first
    return written


async def _wrote(turn: Turn) -> None:
    """The rest of a redraw: nothing (the caller looks at what was written)."""
