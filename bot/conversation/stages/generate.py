"""Generate: the engine writes the reply (streamed into the live preview); a failure becomes
one polite sentence chosen here, never an exception's text."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from engines import BlendedEngine, BlendError, BusyError, Generation, ModelError
from engines.gate import BUSY_MESSAGE
from engines.redact import redact

from ..outbox import Outbox
from ..pipeline import Next, Turn
from ..safety.hygiene import strip_reasoning, visible_so_far
from .respond import APOLOGY

log = logging.getLogger(__name__)
TYPING_AFTER_S = 0.5  # "typing…" once a reply has shown nothing for this long


class Generate:
    def __init__(self, engine: BlendedEngine) -> None:
        self.engine = engine

    async def __call__(self, turn: Turn, rest: Next) -> None:
        assert turn.request is not None
        text, preview = "", turn.live
        try:
            async with typing(turn.outbox, turn.showing):
                async for item in self.engine.stream(turn.request):
                    if isinstance(item, Generation):  # reasoning never goes further
                        if turn.live is not None:  # a reply written at once needs no preview
                            turn.live.written()
                        turn.generation = replace(item, text=strip_reasoning(item.text),
                                                  candidates=tuple(
                                                      replace(c, text=strip_reasoning(c.text))
                                                      for c in item.candidates))
                    else:
                        text += item
                        if preview is not None:
                            shown = visible_so_far(text)
                            if turn.screen is not None and turn.screen(shown):
                                preview = None  # held back until moderation has judged it
                            elif shown.strip():
                                preview.feed(shown)
        except Exception as exc:
            return turn.end("error", failure(exc), reason="model")
        finally:
            if turn.live is not None:
                turn.live.written()
        if turn.generation is None:  # a backend broke the stream contract
            return turn.end("error", failure(RuntimeError("no result")), reason="model")
        await rest(turn)


@contextlib.asynccontextmanager
async def typing(outbox: Outbox, showing: Callable[[], bool] = lambda: False
                 ) -> AsyncIterator[None]:
    """"typing…" while the body runs and nothing of the reply shows yet: first after
    `TYPING_AFTER_S` (a reply that shows sooner needs none: its first words replace the
    indication), then again every few seconds (failures ignored)."""
    stop = asyncio.Event()

    async def keep_typing() -> None:
        wait = TYPING_AFTER_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            if not showing():
                try:
                    await outbox.typing()
                except Exception as exc:
                    log.debug("typing indication failed: %s", exc)
            wait = outbox.limits.typing_every_s

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        stop.set()  # an indication in flight completes (briefly), none follows
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)

MODEL_UNAVAILABLE = "Sorry, one of my models is unavailable right now. Please try again."
INTERNAL = APOLOGY


def failure(exc: BaseException) -> str:
    """What the user reads when no reply could be made: a fixed sentence chosen here, never
    the exception's text (it can hold URLs, paths, credentials); the log keeps the detail."""
    if isinstance(exc, BusyError):  # its text is one of the engine's fixed sentences
        log.warning("busy: %s", redact(str(exc)))
        return BUSY_MESSAGE
    log.warning("reply failed: %s: %s", type(exc).__name__, redact(str(exc)))
    log.debug("reply failure traceback", exc_info=exc)
    return MODEL_UNAVAILABLE if isinstance(exc, ModelError | BlendError) else INTERNAL
