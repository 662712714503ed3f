"""Logging for every command: text or JSON lines, and no secret in any record.

`BLENDBOT_LOG_FORMAT=json` writes one JSON object per line (structlog's formatter over the
standard library's records), with the turn's `community`, `channel` and `request` ids
(bound by the core while a turn runs) and a record's `extra` fields (`model`, `mode`) as
keys. Either way URL credentials are masked and the configured secrets' values are replaced.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from engines.redact import redact

# Loggers whose lower levels print tokens (in request URLs) or request bodies.
QUIET = (("httpx", logging.WARNING), ("httpcore", logging.WARNING),
         ("telegram.Bot", logging.INFO), ("telegram.ext.ExtBot", logging.INFO))
MASK = "***"


def setup_logging(level: str, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Log to stderr at `level` in `fmt` (`text` or `json`), masking `secrets`' values."""
    handler = logging.StreamHandler(sys.stderr)
    masked = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))
    formatter = (json_formatter(masked) if fmt == "json" else
                 RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                    secrets=masked))
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler])
    quiet_secret_loggers()


def quiet_secret_loggers() -> None:
    """Raise the loggers that would print a token at their lower levels."""
    for name, floor in QUIET:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), floor))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without URL credentials or any of `secrets`."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return redact(text)


class RedactingFormatter(logging.Formatter):
    """The usual format, with URL credentials masked in messages and tracebacks."""

    def __init__(self, fmt: str | None = None, *, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record), self.secrets)


def json_formatter(secrets: Iterable[str] = ()) -> logging.Formatter:
    """One JSON object per record: time, level, logger, event, bound ids, extras, exception."""
    hidden = tuple(secrets)

    def scrub_values(_logger: Any, _name: str, event: MutableMapping[str, Any]
                     ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = scrub(value, hidden)
        return event

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_values,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
    )


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """Log the exception being handled as one line at ERROR (`message: Type: text`); its
    traceback only at DEBUG."""
    exc = sys.exc_info()[1]
    text = (str(exc).splitlines() or [""])[0][:300] if exc is not None else ""
    logger.error(f"{message}: %s%s", *args, type(exc).__name__, f": {text}" if text else "")
    logger.debug("traceback of: " + message, *args, exc_info=exc)
