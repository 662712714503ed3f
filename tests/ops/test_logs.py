"""`BLENDBOT_LOG_FORMAT`: JSON lines with the turn's ids, secrets masked; bad values: one line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from structlog.contextvars import bound_contextvars

from bot.logs import json_formatter
from tests.clirun import blendbot


def test_a_bad_log_format_is_one_line_naming_the_choices(tmp_path: Path) -> None:
    result = blendbot(tmp_path, "models", config='log_format = "xml"\n')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "blendbot: error: invalid setting log_format: must be one of text, json (got 'xml')"]


def test_json_lines_carry_bound_ids_and_extras_and_mask_secrets() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter(["s3cr3t-token-value"]))
    logger = logging.getLogger("blendbot.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with bound_contextvars(community="g1", channel="c1", request="r1"):
            logger.info("reply sent", extra={"model": "m1"})
        try:
            raise RuntimeError("cannot reach https://bob:hunter2@db/x with s3cr3t-token-value")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "reply sent" and first["level"] == "info"
    assert (first["community"], first["channel"], first["request"], first["model"]) == (
        "g1", "c1", "r1", "m1")
    assert "channel" not in second  # bound only while the turn ran
    assert "RuntimeError" in second["exception"]
    assert "hunter2" not in out.getvalue() and "s3cr3t-token-value" not in out.getvalue()
