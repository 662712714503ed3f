"""Engagement and retention analytics: events, sessions, metrics, reports and charts.

Platform-neutral and storage-free: everything works on `Event` objects, so the database,
the CLI and the scheduler only convert rows to events and call `build_report`.
"""

from bot.analytics.events import (
    AssignmentEvent,
    Event,
    EventError,
    FeedbackEvent,
    LineError,
    MessageEvent,
    ParseResult,
    SettingEvent,
    event_from_dict,
    event_to_dict,
    event_to_json,
    format_events,
    parse_events,
    parse_numbered,
)
from bot.analytics.options import AnalysisOptions
from bot.analytics.report import Report, build_report
from bot.analytics.summary import summary_text

__all__ = [
    "AnalysisOptions",
    "AssignmentEvent",
    "Event",
    "EventError",
    "FeedbackEvent",
    "LineError",
    "MessageEvent",
    "ParseResult",
    "Report",
    "SettingEvent",
    "build_report",
    "event_from_dict",
    "event_to_dict",
    "event_to_json",
    "format_events",
    "parse_events",
    "parse_numbered",
    "summary_text",
]
