"""`RankerProvider`: opens the ranker once, on first use, off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from .meta import RankerLoadError
from .scorer import PairScorer

log = logging.getLogger(__name__)


class RankerProvider:
    """The ranker behind ranked modes. A load failure is remembered (and logged once): the
    modes then fall back to another way of answering instead of retrying every reply."""

    def __init__(self, path: Path, threads: int | None = None,
                 loader: Callable[..., PairScorer] | None = None) -> None:
        self.path = Path(path)
        self.threads = threads
        self._loader = loader
        self._ranker: PairScorer | None = None
        self._error: RankerLoadError | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> PairScorer:
        """The loaded ranker; `RankerLoadError` when it cannot be used."""
        if self._ranker is not None:
            return self._ranker
        async with self._lock:
            if self._error is not None:
                raise self._error
            if self._ranker is None:
                try:
                    self._ranker = await asyncio.to_thread(self._load)
                except RankerLoadError as exc:
                    self._error = exc
                    log.error("ranker unavailable: %s", exc)
                    raise
            return self._ranker

    def _load(self) -> PairScorer:
        if self._loader is not None:
            return self._loader(self.path, threads=self.threads)
        from .runtime import OnnxRanker

        return OnnxRanker.load(self.path, threads=self.threads)
