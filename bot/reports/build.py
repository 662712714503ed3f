"""One community's report from the database: text, JSON and chart."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.analytics import AnalysisOptions, Report, summary_text
from bot.analytics.experiment import ExperimentResult
from bot.analytics.summary import experiment_lines

from ..storage import Store
from ..storage.events import Events
from ..storage.experiment_read import read_stored
from ..storage.experiments import Experiment, Experiments
from ..storage.rollup_read import rollup_report
from ..storage.tables import Community

log = logging.getLogger(__name__)
DEFAULT_SPAN = timedelta(weeks=6)  # long enough for retention out to day 30


class UnknownCommunityError(LookupError):
    """No such community; the message lists the known ones."""


@dataclass(frozen=True, slots=True)
class BuiltReport:
    report: Report
    text: str
    png: bytes | None  # None when the chart could not be drawn (the text still goes out)
    experiment: ExperimentResult | None = None  # the one running or ended in the period


async def resolve_community(store: Store, ref: str) -> tuple[str, str]:
    """(platform, external id) for `ID` or `platform:ID`."""
    known = await Events(store).communities()
    platform, _, ident = ref.rpartition(":") if ":" in ref else ("", "", ref)
    matches = [(p, x) for p, x, _ in known if x == ident and (not platform or p == platform)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        shown = ", ".join(f"{p}:{x}" for p, x, _ in known[:20]) or "none yet"
        raise UnknownCommunityError(f"no community '{ref}' (known: {shown})")
    choices = ", ".join(f"{p}:{x}" for p, x in matches)
    raise UnknownCommunityError(f"'{ref}' is on several platforms; say which: {choices}")


async def community_report(store: Store, platform: str, community: str,
                           since: datetime | None = None, until: datetime | None = None,
                           options: AnalysisOptions | None = None,
                           chart: bool = True) -> BuiltReport:
    """Build the report from the rollups (whole days in the community's timezone); the chart
    is drawn off the event loop, and a chart failure is logged, not raised."""
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_SPAN
    report = await rollup_report(store, platform, community, since, until, options)
    experiment = await _experiment_in(store, platform, community, since, until, options)
    extra = experiment_lines(experiment) if experiment is not None else []

    def work() -> BuiltReport:
        png = None
        if chart:
            try:
                from bot.analytics.chart import render_chart

                png = render_chart(report, experiment=experiment)
            except Exception:
                log.exception("could not draw the report chart for %s", community)
        return BuiltReport(report, summary_text(report, extra=extra), png, experiment)

    return await asyncio.to_thread(work)


async def _experiment_in(store: Store, platform: str, community: str, since: datetime,
                         until: datetime, options: AnalysisOptions | None
                         ) -> ExperimentResult | None:
    """The community's latest experiment if it ran during [since, until), read from its
    start to its end (or `until`); a failure is logged and the report goes out without it."""
    try:
        async with store.session() as s:
            cid = await s.scalar(select(Community.id).where(
                Community.platform == platform, Community.external_id == community))
        found: Experiment | None = None
        for e in await Experiments(store).all(cid) if cid is not None else []:
            if e.started_at < until and (e.ended_at is None or e.ended_at >= since):
                found = e
                break
        if found is None or cid is None:
            return None
        end = min(found.ended_at or until, until)
        return await read_stored(store, cid, community, found, None, end,
                                 options or AnalysisOptions())
    except Exception:
        log.exception("could not read the experiment of %s", community)
        return None
