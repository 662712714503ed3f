"""`blendbot analytics import|export` and `blendbot report COMMUNITY`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.analytics import Event, EventError, event_to_json, parse_numbered
from bot.analytics.summary import experiment_lines

from .config import Settings
from .database import store_for
from .reports.build import UnknownCommunityError, community_report, resolve_community
from .storage import Store
from .storage.events import Events
from .storage.experiment_read import UnknownExperimentError, experiment_report
from .storage.rollups import Rollups


class AnalyticsUsageError(Exception):
    """Bad analytics input: one line, exit code 2."""


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a date (use YYYY-MM-DD or an ISO time)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_parsers(sub: Any) -> None:
    analytics = sub.add_parser("analytics", help="import or export events (JSON lines)")
    asub = analytics.add_subparsers(dest="analytics_command", required=True)
    imp = asub.add_parser("import", help="import events from a JSONL file (idempotent)")
    imp.add_argument("file", type=Path)
    exp = asub.add_parser("export", help="print events as JSON lines")
    exp.add_argument("--community", help="only this community (ID or platform:ID)")

    report = sub.add_parser("report", help="a community's engagement and retention report")
    report.add_argument("community", help="community ID (guild or group id), or platform:ID")
    report.add_argument("--since", type=_date, help="start (default: 6 weeks before --until)")
    report.add_argument("--until", type=_date, help="end, exclusive (default: now)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--png", type=Path, help="write the chart to this PNG file")
    report.add_argument("--experiment", metavar="NAME",
                        help="read this A/B experiment: its arms' engagement, retention, ζ, "
                             "Δζ and the winner (default period: the experiment's)")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    store = store_for(settings)
    await store.open()
    try:
        if args.command == "report":
            return await _report(store, args)
        if args.analytics_command == "import":
            return await _import(store, args.file)
        return await _export(store, args.community)
    finally:
        await store.close()


BATCH = 20_000  # events imported per transaction: memory stays bounded by a batch
SHOWN = 50  # bad lines reported one by one; the rest are counted


async def _import(store: Store, path: Path) -> int:
    events = Events(store)
    added = skipped = malformed = 0
    batch: list[str] = []

    async def flush() -> None:
        nonlocal added, skipped, malformed
        parsed: list[Event] = []
        refused: list[tuple[int, str]] = []
        line_of: dict[int, int] = {}  # id(event) -> its line, for what the store refuses
        for line_no, item in parse_numbered(batch, offset + 1):
            if isinstance(item, EventError):
                refused.append((line_no, str(item)))
            else:
                parsed.append(item)
                line_of[id(item)] = line_no
        result = await events.import_events(parsed, catch_up=False)
        added, skipped = added + result.added, skipped + result.skipped
        refused += [(line_of[id(e)], "feedback on a message that is not in the file or "
                     "the database") for e in result.missing]
        for line_no, reason in sorted(refused):
            malformed += 1
            if malformed <= SHOWN:
                print(f"{path}:{line_no}: skipped: {reason}", file=sys.stderr)

    offset = 0
    try:
        # A bad byte spoils only its line (refused there as not valid UTF-8).
        with path.open(encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                batch.append(line)
                if len(batch) >= BATCH:
                    await flush()
                    offset += len(batch)
                    batch = []
            await flush()
    except OSError as exc:
        raise AnalyticsUsageError(f"cannot read {path}: {exc.strerror}") from None
    await Rollups(store).catch_up()
    if malformed > SHOWN:
        print(f"{path}: … and {malformed - SHOWN} more malformed lines", file=sys.stderr)
    print(f"imported {added} events, {skipped} already present, "
          f"{malformed} malformed lines skipped")
    return 0


async def _export(store: Store, community: str | None) -> int:
    platform = ident = None
    if community:
        platform, ident = await _community(store, community)
    async for event in Events(store).stream(ident, platform):  # bounded memory
        sys.stdout.write(event_to_json(event) + "\n")
    return 0


async def _community(store: Store, ref: str) -> tuple[str, str]:
    try:
        return await resolve_community(store, ref)
    except UnknownCommunityError as exc:
        raise AnalyticsUsageError(str(exc)) from None


async def _report(store: Store, args: argparse.Namespace) -> int:
    platform, ident = await _community(store, args.community)
    if args.since and args.until and args.until <= args.since:
        raise AnalyticsUsageError("--until must be after --since")
    if args.experiment is not None:
        return await _experiment(store, args, platform, ident)
    built = await community_report(store, platform, ident, args.since, args.until,
                                   chart=args.png is not None)
    if args.png is not None:
        if built.png is None:
            print("warning: the chart could not be drawn (see the log)", file=sys.stderr)
        else:
            try:
                args.png.write_bytes(built.png)
            except OSError as exc:
                raise AnalyticsUsageError(f"cannot write {args.png}: {exc.strerror}") from None
    if args.json:
        print(built.report.to_json())
    else:
        print(built.text)
    return 0


async def _experiment(store: Store, args: argparse.Namespace, platform: str, ident: str
                      ) -> int:
    """`blendbot report COMMUNITY --experiment NAME`: the arms compared."""
    try:
        result = await experiment_report(store, platform, ident, args.experiment,
                                         args.since, args.until)
    except UnknownExperimentError as exc:
        raise AnalyticsUsageError(str(exc)) from None
    if args.png is not None:
        from bot.analytics.chart import render_experiment_chart

        png = await asyncio.to_thread(render_experiment_chart, result)
        try:
            args.png.write_bytes(png)
        except OSError as exc:
            raise AnalyticsUsageError(f"cannot write {args.png}: {exc.strerror}") from None
    if args.json:
        print(json.dumps({"community": ident, "experiment": result.to_dict()},
                         ensure_ascii=False))
    else:
        print("\n".join(experiment_lines(result, detail=True)))
    return 0
