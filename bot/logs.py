"""Logging for every command: one format, and no secret in any record."""

from __future__ import annotations

import logging
import sys

from engines.redact import redact

# Loggers whose lower levels print tokens (in request URLs) or request bodies.
QUIET = (("httpx", logging.WARNING), ("httpcore", logging.WARNING),
         ("telegram.Bot", logging.INFO), ("telegram.ext.ExtBot", logging.INFO))


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    quiet_secret_loggers()


def quiet_secret_loggers() -> None:
    """Raise the loggers that would print a token at their lower levels."""
    for name, floor in QUIET:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), floor))


class RedactingFormatter(logging.Formatter):
    """The usual format, with URL credentials masked in messages and tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """Log the exception being handled as one line at ERROR (`message: Type: text`); its
    traceback only at DEBUG."""
    exc = sys.exc_info()[1]
    text = (str(exc).splitlines() or [""])[0][:300] if exc is not None else ""
    logger.error(f"{message}: %s%s", *args, type(exc).__name__, f": {text}" if text else "")
    logger.debug("traceback of: " + message, *args, exc_info=exc)
