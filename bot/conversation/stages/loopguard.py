"""Loop guard: a reply that repeats one of the channel's last few replies, or says one
phrase over and over, is not sent. The engine writes it again, drawing another member
(a one-model blend samples again with a fresh seed), at most `REDRAWS` times; the redraws
are logged and stored with the reply."""

from __future__ import annotations

import logging

from ..pipeline import Next, Turn
from ..quality.repeats import RECENT, is_loop, repeats
from .generate import Generate
from .redraw import draw_again

log = logging.getLogger(__name__)
REDRAWS = 2


class LoopGuard:
    def __init__(self, generate: Generate) -> None:
        self.generate = generate

    async def __call__(self, turn: Turn, rest: Next) -> None:
        assert turn.generation is not None and turn.request is not None
        recent = [m.text for m in turn.history if m.role == "assistant"][-RECENT:]
        first = turn.request
        written = [turn.generation]
        while (why := is_loop(turn.generation.text, recent)) is not None:
            if len(written) > REDRAWS:  # still looping: send the one least like the others
                turn.generation = min(written, key=lambda g: _closeness(g.text, recent))
                log.warning("reply for %s still loops after %d redraws; sending the least "
                            "repetitive", turn.key, REDRAWS)
                break
            model = turn.generation.model_id
            log.info("reply for %s by %s is a %s; drawing again", turn.key, model, why)
            turn.redraws.append(f"{model}:{why}")
            again = await draw_again(self.generate, turn, first,
                                     [g.model_id for g in written])
            if again is None:  # the redraw failed: the turn goes on with what was written
                turn.generation = written[-1]
                break
            turn.generation = again
            written.append(again)
        turn.request = first
        await rest(turn)


def _closeness(text: str, recent: list[str]) -> float:
    """How much of a loop `text` is: 2 degenerate, 1 a repeat, else 0."""
    why = is_loop(text, recent)
    return 2.0 if why == "degenerate" else 1.0 if repeats(text, recent) else 0.0
