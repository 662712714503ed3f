"""The service's Prometheus metrics: one registry per process, built by the composition root.

Labels are platform, mode, model and the like; never a user, a channel or a message. The
core counts turns (`turn`), the engine reports replies and failures (`EngineObserver`),
the report scheduler its runs, and the gauges read the engine's health and queues when
Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from engines import BlendedEngine, Generation

# Chat replies: a first word within a second or two, a whole reply within tens of seconds.
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
REPLY_BUCKETS = (0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
# How late the event loop runs a timer: a healthy loop stays within a few milliseconds.
LOOP_LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
LOOP_TICK_S = 0.5  # twice a second: each wake-up of an idle process costs CPU
# How long a send or edit waited for the platform's budgets (none, mostly; a busy group's
# 20 messages a minute can hold one for tens of seconds).
PACING_BUCKETS = (0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LAG_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600)
__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """Every metric of one process, in its own registry (tests build as many as they like)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, memory, open fds
        self.replies = Counter(
            "blendbot_replies", "Replies sent, by platform, blend mode and answering model",
            ["platform", "mode", "model"], registry=registry)
        self.turns = Counter(
            "blendbot_turns", "Inbound turns by platform and how they ended "
            "(reply, notice, error, ignored)", ["platform", "outcome"], registry=registry)
        self.first_token = Histogram(
            "blendbot_reply_first_token_seconds",
            "From the engine's start on a reply to its first text (queue and failover "
            "included)", ["model"], buckets=FIRST_TOKEN_BUCKETS, registry=registry)
        self.reply_seconds = Histogram(
            "blendbot_reply_seconds", "From the engine's start on a reply to its end",
            ["model"], buckets=REPLY_BUCKETS, registry=registry)
        self.failovers = Counter(
            "blendbot_failovers", "Replies another member wrote after this model failed them",
            ["model"], registry=registry)
        self.model_failures = Counter(
            "blendbot_model_failures", "Requests a model failed (before or mid-reply)",
            ["model"], registry=registry)
        self.rate_limited = Counter(
            "blendbot_rate_limited", "Messages refused by the per-user rate limit",
            ["platform"], registry=registry)
        self.platform_429 = Counter(
            "blendbot_platform_429", "HTTP 429 answers from a platform's API",
            ["platform"], registry=registry)
        self.report_runs = Counter(
            "blendbot_report_runs", "Scheduled weekly report runs by result (ok, error)",
            ["result"], registry=registry)
        self.report_lag = Histogram(
            "blendbot_report_lag_seconds",
            "How late a scheduled report ran after its scheduled time (downtime included)",
            buckets=LAG_BUCKETS, registry=registry)
        self.loop_lag = Histogram(
            "blendbot_event_loop_lag_seconds",
            f"How late the event loop woke up for a {LOOP_TICK_S}s timer",
            buckets=LOOP_LAG_BUCKETS, registry=registry)
        self.pacing_wait = Histogram(
            "blendbot_platform_wait_seconds",
            "How long a reply's send or edit waited for the platform's message budgets",
            ["platform"], buckets=PACING_BUCKETS, registry=registry)
        self.previews_deferred = Counter(
            "blendbot_previews_deferred",
            "Streaming previews put off because the platform's budgets were nearly spent",
            ["platform"], registry=registry)
        self.model_healthy = Gauge(
            "blendbot_model_healthy", "1 while a model may be drawn, 0 while it is benched",
            ["model"], registry=registry)
        self.queue_depth = Gauge(
            "blendbot_queue_depth", "Requests waiting in a model's queue", ["model"],
            registry=registry)
        self.in_flight = Gauge(
            "blendbot_model_in_flight", "Requests a model is serving now", ["model"],
            registry=registry)

    # -- the core --------------------------------------------------------------------------

    def turn(self, platform: str, outcome: str, reason: str, mode: str | None,
             model: str | None) -> None:
        """One turn of the core ended (`outcome` is its kind, `reason` why)."""
        self.turns.labels(platform, outcome).inc()
        if outcome == "reply" and model is not None:
            self.replies.labels(platform, mode or "", model).inc()
        if reason == "rate limited":
            self.rate_limited.labels(platform).inc()

    # -- the engine (an `engines.observe.EngineObserver`) ----------------------------------

    def replied(self, generation: Generation, first_token_s: float, total_s: float) -> None:
        model = generation.model_id
        self.first_token.labels(model).observe(first_token_s)
        self.reply_seconds.labels(model).observe(total_s)
        for failed in generation.failed_over_from:
            self.failovers.labels(failed).inc()

    def model_failed(self, model_id: str) -> None:
        self.model_failures.labels(model_id).inc()

    def watch(self, engine: BlendedEngine) -> None:
        """Health and queue gauges that read `engine` at each scrape."""
        board = engine.health_board
        for model_id, queue in engine.queues.items():
            self.model_healthy.labels(model_id).set_function(
                lambda m=model_id: float(board.available(m)))  # type: ignore[misc]
            self.queue_depth.labels(model_id).set_function(
                lambda q=queue: float(q.waiting))  # type: ignore[misc]
            self.in_flight.labels(model_id).set_function(
                lambda q=queue: float(q.active))  # type: ignore[misc]
            self.first_token.labels(model_id)  # each model's series exists from the start
            self.reply_seconds.labels(model_id)

    async def watch_loop(self) -> None:
        """Measure the running event loop's lag until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LOOP_TICK_S)
            self.loop_lag.observe(max(0.0, loop.time() - started - LOOP_TICK_S))

    # -- reports and platforms ---------------------------------------------------------------

    def report_ran(self, ok: bool, lag_s: float) -> None:
        self.report_runs.labels("ok" if ok else "error").inc()
        self.report_lag.observe(max(0.0, lag_s))

    def paced(self, platform: str, waited_s: float | None) -> None:
        """A send or edit waited `waited_s` for the budgets (None: a preview put off)."""
        if waited_s is None:
            self.previews_deferred.labels(platform).inc()
        else:
            self.pacing_wait.labels(platform).observe(waited_s)

    def http_trace(self, platform: str) -> aiohttp.TraceConfig:
        """An aiohttp trace counting a platform API's 429s (for discord.py's `http_trace`)."""
        trace = aiohttp.TraceConfig()

        async def on_end(_session: object, _ctx: object,
                         params: aiohttp.TraceRequestEndParams) -> None:
            if params.response.status == 429:
                self.platform_429.labels(platform).inc()

        trace.on_request_end.append(on_end)
        return trace

    def httpx_hooks(self, platform: str) -> dict[str, list[Any]]:
        """httpx `event_hooks` counting a platform API's 429s (for python-telegram-bot)."""

        async def on_response(response: httpx.Response) -> None:
            if response.status_code == 429:
                self.platform_429.labels(platform).inc()

        return {"response": [on_response]}

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
