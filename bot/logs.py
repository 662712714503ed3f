"""Logging for every command: one format, and no secret in any record."""

from __future__ import annotations

import logging
import sys

# Loggers whose lower levels print tokens (in request URLs) or request bodies.
QUIET = (("httpx", logging.WARNING), ("httpcore", logging.WARNING),
         ("telegram.Bot", logging.INFO), ("telegram.ext.ExtBot", logging.INFO))


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_secret_loggers()


def quiet_secret_loggers() -> None:
    """Raise the loggers that would print a token at their lower levels."""
    for name, floor in QUIET:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), floor))
