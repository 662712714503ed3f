from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.analytics.events import (
    FeedbackEvent,
    MessageEvent,
    SettingEvent,
    event_key,
    event_to_json,
    format_events,
    parse_events,
)

MESSAGE = (
    '{"type": "message", "id": "m1", "ts": "2026-11-02T10:15:00Z", "platform": "discord",'
    ' "community": "g1", "channel": "c1", "user": "alice", "role": "user", "model": null,'
    ' "text": "Hi there 👋"}'
)
REPLY = (
    '{"type": "message", "id": "m2", "ts": "2026-11-02T10:15:04.250000Z", "platform": "discord",'
    ' "community": "g1", "channel": "c1", "user": "blendbot", "role": "bot",'
    ' "model": "gemma3-270m", "text": "Hello!"}'
)
FEEDBACK = (
    '{"type": "feedback", "ts": "2026-11-02T10:16:00Z", "platform": "discord",'
    ' "community": "g1", "channel": "c1", "user": "alice", "message": "m2", "kind": "up"}'
)
SETTING = (
    '{"type": "setting", "ts": "2026-11-01T08:00:00Z", "platform": "telegram",'
    ' "community": "-100123", "channel": "-100123", "user": "admin", "setting": "mode",'
    ' "value": "uniform"}'
)


def test_issue_format_round_trips_byte_for_byte() -> None:
    lines = [MESSAGE, REPLY, FEEDBACK, SETTING]
    events, errors = parse_events(lines)
    assert errors == []
    assert [event_to_json(e) for e in events] == lines
    assert parse_events(format_events(events)).events == events


def test_events_carry_typed_fields() -> None:
    msg, reply, up, setting = parse_events([MESSAGE, REPLY, FEEDBACK, SETTING]).events
    assert isinstance(msg, MessageEvent) and msg.role == "user" and msg.model is None
    assert msg.ts == datetime(2026, 11, 2, 10, 15, tzinfo=UTC)
    assert isinstance(reply, MessageEvent) and reply.model == "gemma3-270m"
    assert isinstance(up, FeedbackEvent) and (up.message, up.kind) == ("m2", "up")
    assert isinstance(setting, SettingEvent) and (setting.setting, setting.value) == (
        "mode",
        "uniform",
    )


def test_offsets_become_utc_and_naive_times_are_refused() -> None:
    shifted = MESSAGE.replace("2026-11-02T10:15:00Z", "2026-11-02T12:15:00+02:00")
    naive = MESSAGE.replace("2026-11-02T10:15:00Z", "2026-11-02T10:15:00")
    result = parse_events([shifted, naive])
    [event] = result.events
    assert event.ts == datetime(2026, 11, 2, 10, 15, tzinfo=UTC)
    assert event.ts.utcoffset() is not None and event.ts.utcoffset().total_seconds() == 0
    assert '"ts": "2026-11-02T10:15:00Z"' in event_to_json(event)
    [(line_no, reason)] = result.errors
    assert line_no == 2 and "timezone" in reason


def test_malformed_lines_are_reported_by_number_and_the_rest_kept() -> None:
    obj = json.loads(MESSAGE)
    lines = [
        MESSAGE,
        "{not json",
        "",  # blank: neither an event nor an error
        json.dumps(obj | {"role": "admin"}),
        json.dumps(obj | {"type": "reaction"}),
        json.dumps({k: v for k, v in obj.items() if k != "channel"}),
        FEEDBACK.replace('"up"', '"love"'),
        json.dumps(obj | {"ts": "yesterday"}),
        "[1, 2]",
        REPLY,
    ]
    events, errors = parse_events(lines)
    assert [e.id for e in events if isinstance(e, MessageEvent)] == ["m1", "m2"]
    assert [n for n, _ in errors] == [2, 4, 5, 6, 7, 8, 9]
    reasons = dict(errors)
    assert "JSON" in reasons[2]
    assert "role" in reasons[4]
    assert "type" in reasons[5]
    assert "channel" in reasons[6]
    assert "kind" in reasons[7]
    assert "ts" in reasons[8]


def test_a_file_saved_with_a_byte_order_mark_still_parses() -> None:
    assert parse_events(["\ufeff" + MESSAGE + "\n", FEEDBACK + "\n"]).errors == []


def test_unknown_keys_are_ignored() -> None:
    line = json.dumps(json.loads(MESSAGE) | {"edited": True})
    events, errors = parse_events([line])
    assert errors == [] and event_to_json(events[0]) == MESSAGE


def test_writing_a_naive_timestamp_is_refused() -> None:
    event = parse_events([MESSAGE]).events[0]
    bad = replace(event, ts=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        event_to_json(bad)


def test_reimporting_the_same_lines_adds_no_new_keys() -> None:
    lines = [MESSAGE, REPLY, FEEDBACK, SETTING]
    first = {event_key(e) for e in parse_events(lines).events}
    again = [e for e in parse_events(lines).events if event_key(e) not in first]
    assert len(first) == 4 and again == []
    edited = parse_events([MESSAGE.replace("Hi there", "Edited")]).events[0]
    assert event_key(edited) in first  # same id, same message
    other_chat = parse_events([MESSAGE.replace('"c1"', '"c2"')]).events[0]
    assert event_key(other_chat) not in first  # ids are per chat on Telegram
