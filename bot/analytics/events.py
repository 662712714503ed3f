"""Analytics events and their JSONL format: messages, feedback and setting changes.

One JSON object per line, keys in this order (the same format is imported and exported)::

    {"type": "message", "id": "...", "ts": "2026-11-02T10:15:00Z", "platform": "discord",
     "community": "...", "channel": "...", "user": "...", "role": "user|bot",
     "model": "id or null", "text": "..."}
    {"type": "feedback", "ts": ..., "platform": ..., "community": ..., "channel": ...,
     "user": ..., "message": "<id of the bot message>", "kind": "up|down|regenerate"}
    {"type": "setting", "ts": ..., "platform": ..., "community": ..., "channel": ...,
     "user": "<who changed it>", "setting": "mode|persona", "value": "new value or null"}

Timestamps are timezone-aware UTC: offsets are converted to UTC, naive ones are refused.
Keys not listed above are ignored, so older readers accept newer files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypeAlias

PLATFORMS = ("discord", "telegram", "console")
ROLES = ("user", "bot")
FEEDBACK_KINDS = ("up", "down", "regenerate")
SETTINGS = ("mode", "persona")

Platform: TypeAlias = Literal["discord", "telegram", "console"]
Role: TypeAlias = Literal["user", "bot"]
FeedbackKind: TypeAlias = Literal["up", "down", "regenerate"]
SettingName: TypeAlias = Literal["mode", "persona"]


class EventError(ValueError):
    """An object that is not a valid event; the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message in a channel: a user's turn, or a bot reply with the model that wrote it."""

    id: str
    ts: datetime
    platform: Platform
    community: str
    channel: str
    user: str
    role: Role
    model: str | None
    text: str


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """A reaction to a bot message (`message` is its id): 👍, 👎 or a regenerate request."""

    ts: datetime
    platform: Platform
    community: str
    channel: str
    user: str
    message: str
    kind: FeedbackKind


@dataclass(frozen=True, slots=True)
class SettingEvent:
    """A channel setting changed: its blend `mode` or its `persona` (None: back to default)."""

    ts: datetime
    platform: Platform
    community: str
    channel: str
    user: str
    setting: SettingName
    value: str | None


Event: TypeAlias = MessageEvent | FeedbackEvent | SettingEvent


class LineError(NamedTuple):
    """A line that was skipped: its 1-based number and why."""

    line_no: int
    reason: str


class ParseResult(NamedTuple):
    """The valid events of a stream, in order, and the lines that were skipped."""

    events: list[Event]
    errors: list[LineError]


def parse_ts(value: object) -> datetime:
    """An ISO 8601 timestamp with a zone (`Z` or an offset) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise EventError("ts: expected an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"ts: not an ISO 8601 timestamp: {value!r}") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise EventError(f"ts: no timezone in {value!r} (use Z for UTC)")
    return ts.astimezone(UTC)


def as_utc(ts: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused rather than guessed."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("naive datetime; analytics timestamps must be timezone-aware")
    return ts.astimezone(UTC)


def format_ts(ts: datetime) -> str:
    """`2026-11-02T10:15:00Z`; microseconds only when there are some."""
    utc = as_utc(ts)
    spec = "seconds" if utc.microsecond == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise EventError(f"{key}: expected a non-empty string")
    return value


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise EventError(f"{key}: expected a string")
    return value


def _optional(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise EventError(f"{key}: expected a string or null")
    return value


def _choice(obj: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> Any:
    value = obj.get(key)
    if value not in choices:
        raise EventError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def event_from_dict(obj: Mapping[str, Any]) -> Event:
    """The event an already-decoded JSON object describes; `EventError` if it is invalid."""
    if not isinstance(obj, Mapping):
        raise EventError("expected a JSON object")
    kind = obj.get("type")
    if kind not in ("message", "feedback", "setting"):
        raise EventError(f"type: expected message, feedback or setting, got {kind!r}")
    common: dict[str, Any] = {
        "ts": parse_ts(obj.get("ts")),
        "platform": _choice(obj, "platform", PLATFORMS),
        "community": _str(obj, "community"),
        "channel": _str(obj, "channel"),
        "user": _str(obj, "user"),
    }
    if kind == "message":
        return MessageEvent(
            id=_str(obj, "id"),
            role=_choice(obj, "role", ROLES),
            model=_optional(obj, "model"),
            text=_text(obj, "text"),
            **common,
        )
    if kind == "feedback":
        return FeedbackEvent(
            message=_str(obj, "message"), kind=_choice(obj, "kind", FEEDBACK_KINDS), **common
        )
    return SettingEvent(
        setting=_choice(obj, "setting", SETTINGS), value=_optional(obj, "value"), **common
    )


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON object for an event, keys in the documented order."""
    head: dict[str, Any]
    if isinstance(event, MessageEvent):
        head = {"type": "message", "id": event.id}
    elif isinstance(event, FeedbackEvent):
        head = {"type": "feedback"}
    else:
        head = {"type": "setting"}
    head |= {
        "ts": format_ts(event.ts),
        "platform": event.platform,
        "community": event.community,
        "channel": event.channel,
        "user": event.user,
    }
    if isinstance(event, MessageEvent):
        return head | {"role": event.role, "model": event.model, "text": event.text}
    if isinstance(event, FeedbackEvent):
        return head | {"message": event.message, "kind": event.kind}
    return head | {"setting": event.setting, "value": event.value}


def event_key(event: Event) -> tuple[str, ...]:
    """What makes an event the same event: importing one whose key exists is a duplicate.

    A message is its id in its channel (Telegram ids are unique per chat only); feedback and
    settings have no id, so all their fields are their identity.
    """
    where = (event.platform, event.community, event.channel)
    if isinstance(event, MessageEvent):
        return ("message", *where, event.id)
    ts = format_ts(event.ts)
    if isinstance(event, FeedbackEvent):
        return ("feedback", *where, event.user, event.message, event.kind, ts)
    return ("setting", *where, event.user, event.setting, event.value or "", ts)


def event_to_json(event: Event) -> str:
    """One line of JSONL (no newline); non-ASCII text is written as is."""
    return json.dumps(event_to_dict(event), ensure_ascii=False)


def parse_line(line: str) -> Event:
    """The event on one JSONL line; `EventError` if it is not valid JSON or not an event."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    return event_from_dict(obj)


def parse_events(lines: Iterable[str]) -> ParseResult:
    """Every valid event of a JSONL stream; bad lines are skipped and reported by number.

    Blank lines are neither events nor errors; a UTF-8 byte-order mark is ignored.
    """
    events: list[Event] = []
    errors: list[LineError] = []
    for line_no, line in enumerate(lines, start=1):
        if line_no == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            events.append(parse_line(line))
        except EventError as exc:
            errors.append(LineError(line_no, str(exc)))
    return ParseResult(events, errors)


def format_events(events: Iterable[Event]) -> Iterator[str]:
    """JSONL lines, each ending with a newline, ready for `file.writelines`."""
    for event in events:
        yield event_to_json(event) + "\n"
