"""Analytics events and their JSONL format: messages, feedback, setting changes and
experiment assignments.

One JSON object per line, keys in this order (the same format is imported and exported)::

    {"type": "message", "id": "...", "ts": "2026-11-02T10:15:00Z", "platform": "discord",
     "community": "...", "channel": "...", "user": "...", "role": "user|bot",
     "model": "id or null", "text": "..."}
    {"type": "feedback", "ts": ..., "platform": ..., "community": ..., "channel": ...,
     "user": ..., "message": "<id of the bot message>", "kind": "up|down|regenerate"}
    {"type": "setting", "ts": ..., "platform": ..., "community": ..., "channel": ...,
     "user": "<who changed it>", "setting": "mode|persona", "value": "new value or null"}
    {"type": "assignment", "ts": ..., "platform": ..., "community": ..., "channel": "<where
     the user was first seen>", "user": ..., "experiment": "<name>", "arm": "<arm>"}

Timestamps are timezone-aware UTC: offsets are converted to UTC, naive ones are refused.
Keys not listed above are ignored, so older readers accept newer files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypeAlias

from engines import MODE_NAMES

PLATFORMS = ("discord", "telegram", "console")
ROLES = ("user", "bot")
FEEDBACK_KINDS = ("up", "down", "regenerate")
SETTINGS = ("mode", "persona")
ID_CHARS = 64  # ids (community, channel, user, message, model) as the database keeps them
VALUE_CHARS = 100  # a setting's value
ARM_CHARS = 32  # an experiment's arm
# Any time zone can still show these days, and every database can store them.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)

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


@dataclass(frozen=True, slots=True)
class AssignmentEvent:
    """A user was put in an `arm` of an `experiment` on first sight (in `channel`)."""

    ts: datetime
    platform: Platform
    community: str
    channel: str
    user: str
    experiment: str
    arm: str


Event: TypeAlias = MessageEvent | FeedbackEvent | SettingEvent | AssignmentEvent


class LineError(NamedTuple):
    """A line that was skipped: its 1-based number and why."""

    line_no: int
    reason: str


class ParseResult(NamedTuple):
    """The valid events of a stream, in order, and the lines that were skipped."""

    events: list[Event]
    errors: list[LineError]


def _show(value: object) -> str:
    """A value for an error line: its repr, cut short (an error never echoes 100 KB)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_ts(value: object) -> datetime:
    """An ISO 8601 timestamp with a zone (`Z` or an offset) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise EventError("ts: expected an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"ts: not an ISO 8601 timestamp: {_show(value)}") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise EventError(f"ts: no timezone in {_show(value)} (use Z for UTC)")
    try:
        utc = ts.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise EventError(f"ts: {_show(value)} is out of range (years 1970 to 9998)")
    return utc


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


def _valid(key: str, value: str, limit: int | None, ident: bool = True) -> str:
    if limit is not None and len(value) > limit:
        raise EventError(f"{key}: longer than {limit} characters ({len(value)})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(f"{key}: not valid UTF-8 (a lone surrogate or a bad byte)") from None
    if ident and "\x00" in value:
        raise EventError(f"{key}: contains a NUL character")
    return value


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise EventError(f"{key}: expected a non-empty string")
    return _valid(key, value, ID_CHARS)


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise EventError(f"{key}: expected a string")
    return _valid(key, value, None, ident=False)  # a NUL is dropped when it is stored


def _optional(obj: Mapping[str, Any], key: str, limit: int = ID_CHARS) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise EventError(f"{key}: expected a string or null")
    return value if value is None else _valid(key, value, limit)


def _choice(obj: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> Any:
    value = obj.get(key)
    if not isinstance(value, str) or value not in choices:
        raise EventError(f"{key}: expected one of {', '.join(choices)}, got {_show(value)}")
    return value


def _setting(obj: Mapping[str, Any]) -> tuple[SettingName, str | None]:
    setting: SettingName = _choice(obj, "setting", SETTINGS)
    value = _optional(obj, "value", VALUE_CHARS)
    if setting == "mode" and value is not None and value not in MODE_NAMES:
        raise EventError(f"value: unknown mode {_show(value)} "
                         f"(expected one of {', '.join(MODE_NAMES)} or null)")
    return setting, value


def event_from_dict(obj: Mapping[str, Any]) -> Event:
    """The event an already-decoded JSON object describes; `EventError` if it is invalid."""
    if not isinstance(obj, Mapping):
        raise EventError("expected a JSON object")
    kind = obj.get("type")
    if kind not in ("message", "feedback", "setting", "assignment"):
        raise EventError("type: expected message, feedback, setting or assignment, got "
                         f"{_show(kind)}")
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
    if kind == "assignment":
        arm = _str(obj, "arm")
        if len(arm) > ARM_CHARS:
            raise EventError(f"arm: longer than {ARM_CHARS} characters ({len(arm)})")
        return AssignmentEvent(experiment=_str(obj, "experiment"), arm=arm, **common)
    setting, value = _setting(obj)
    return SettingEvent(setting=setting, value=value, **common)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON object for an event, keys in the documented order."""
    head: dict[str, Any]
    if isinstance(event, MessageEvent):
        head = {"type": "message", "id": event.id}
    elif isinstance(event, FeedbackEvent):
        head = {"type": "feedback"}
    elif isinstance(event, AssignmentEvent):
        head = {"type": "assignment"}
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
    if isinstance(event, AssignmentEvent):
        return head | {"experiment": event.experiment, "arm": event.arm}
    return head | {"setting": event.setting, "value": event.value}


def event_key(event: Event) -> tuple[str, ...]:
    """What makes an event the same event: importing one whose key exists is a duplicate.

    A message is its id in its channel (Telegram ids are unique per chat only); feedback and
    settings have no id, so all their fields are their identity; a user has one arm per
    experiment.
    """
    where = (event.platform, event.community, event.channel)
    if isinstance(event, MessageEvent):
        return ("message", *where, event.id)
    if isinstance(event, AssignmentEvent):
        return ("assignment", event.platform, event.community, event.experiment, event.user)
    ts = format_ts(event.ts)
    if isinstance(event, FeedbackEvent):
        return ("feedback", *where, event.user, event.message, event.kind, ts)
    return ("setting", *where, event.user, event.setting, event.value or "", ts)


def event_to_json(event: Event) -> str:
    """One line of JSONL (no newline); non-ASCII text is written as is."""
    return json.dumps(event_to_dict(event), ensure_ascii=False)


MAX_DEPTH = 64  # deeper JSON is no event (and would exhaust the parser's stack)


def parse_line(line: str) -> Event:
    """The event on one JSONL line; `EventError` if it is not valid JSON or not an event."""
    if line.count("[") + line.count("{") > MAX_DEPTH and _depth(line) > MAX_DEPTH:
        raise EventError(f"invalid JSON: nested deeper than {MAX_DEPTH} levels")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError):  # e.g. an integer of more than 4,300 digits
        raise EventError("invalid JSON: a number too long to read") from None
    return event_from_dict(obj)


def _depth(line: str) -> int:
    """How deep brackets nest in `line`, outside strings."""
    deepest = depth = 0
    in_string = escaped = False
    for char in line:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_numbered(lines: Iterable[str], first: int = 1
                   ) -> Iterator[tuple[int, Event | EventError]]:
    """Each non-blank line's number (from `first`) and its event or why it is not one.

    A UTF-8 byte-order mark on the first line is ignored.
    """
    for line_no, line in enumerate(lines, start=first):
        if line_no == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            yield line_no, parse_line(line)
        except EventError as exc:
            yield line_no, exc


def parse_events(lines: Iterable[str]) -> ParseResult:
    """Every valid event of a JSONL stream; bad lines are skipped and reported by number.

    Blank lines are neither events nor errors; a UTF-8 byte-order mark is ignored.
    """
    events: list[Event] = []
    errors: list[LineError] = []
    for line_no, item in parse_numbered(lines):
        if isinstance(item, EventError):
            errors.append(LineError(line_no, str(item)))
        else:
            events.append(item)
    return ParseResult(events, errors)


def format_events(events: Iterable[Event]) -> Iterator[str]:
    """JSONL lines, each ending with a newline, ready for `file.writelines`."""
    for event in events:
        yield event_to_json(event) + "\n"
