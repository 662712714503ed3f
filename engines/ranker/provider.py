"""`RankerProvider`: opens the ranker once, on first use, off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from .meta import RankerLoadError
from .scorer import Ranker

log = logging.getLogger(__name__)


class RankerProvider:
    """The ranker behind ranked modes. A load failure is remembered (and logged once): the
    modes then fall back to another way of answering instead of retrying every reply.

    `path` may be a function giving the model file to serve now: when its answer changes
    (a refreshed ranker was switched in), the next reply loads that one; if it cannot be
    loaded, the one already loaded keeps serving.
    """

    def __init__(self, path: Path | Callable[[], Path], threads: int | None = None,
                 loader: Callable[..., Ranker] | None = None) -> None:
        self._resolve = path if callable(path) else (lambda fixed=Path(path): fixed)
        self.path = Path(self._resolve())
        self.threads = threads
        self._loader = loader
        self._ranker: Ranker | None = None
        self._error: RankerLoadError | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Ranker:
        """The loaded ranker; `RankerLoadError` when it cannot be used."""
        wanted = Path(self._resolve())
        if self._ranker is not None and wanted == self.path:
            return self._ranker
        async with self._lock:
            if wanted != self.path:
                self.path, self._error, previous = wanted, None, self._ranker
            else:
                previous = None
            if self._error is not None:
                raise self._error
            if self._ranker is None or previous is not None:
                try:
                    self._ranker = await asyncio.to_thread(self._load)
                    if previous is not None:
                        log.info("ranker switched to %s", self.path)
                except RankerLoadError as exc:
                    self._error = exc
                    log.error("ranker unavailable: %s", exc)
                    if previous is None:
                        raise
                    self._ranker = previous  # keep serving the one that works
            return self._ranker

    def _load(self) -> Ranker:
        if self._loader is not None:
            return self._loader(self.path, threads=self.threads)
        from .runtime import load_ranker

        return load_ranker(self.path, threads=self.threads)
