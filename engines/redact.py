"""Credentials out of text that is logged or shown: `scheme://user:secret@host` loses its
user info, and `?key=…`-style query values named like secrets are masked."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@]+@")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&](?:api[_-]?key|key|token|access_token|password|secret)=)[^&\s]+",
    re.IGNORECASE)
_BOT_TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]{20,}")


def redact(text: str) -> str:
    """`text` with every URL credential replaced by `***`."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_QUERY.sub(r"\g<name>***", text)
    return _BOT_TOKEN.sub("/bot***", text)
