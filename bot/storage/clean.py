"""Text that every database can store: no NUL characters (PostgreSQL refuses them in text)
and no lone surrogates (not encodable as UTF-8: what a stray byte on a piped stdin or a
`"\\ud800"` in JSON becomes). `clean_text` is applied to every inbound event and, as a last
guard, to every string parameter the store sends and every JSON value it writes."""

from __future__ import annotations

import json
from typing import Any

REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """`text` without NULs; a lone surrogate becomes U+FFFD (a valid pair is joined)."""
    if text.isascii():
        return text.replace("\x00", "") if "\x00" in text else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\x00", "") if "\x00" in text else text


def clean_value(value: Any) -> Any:
    """`value` with every string in it cleaned (dicts, lists and tuples walked)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_value(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean_value(v) for v in value)
    return value


def json_dumps(value: Any) -> str:
    """The store's JSON serializer: cleaned strings (no `\\u0000`, which PostgreSQL's json
    functions refuse, and no lone surrogates)."""
    return json.dumps(clean_value(value))


def clean_parameters(conn: Any, cursor: Any, statement: str, parameters: Any,
                     context: Any, executemany: bool) -> tuple[str, Any]:
    """`before_cursor_execute` listener (retval=True): the same statement, cleaned values."""
    return statement, clean_value(parameters)
