"""The composition root: builds settings, models, engine, store and service, and closes them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from engines import BlendedEngine, SamplingParams
from engines.gate import FairGate
from engines.ranked import RankedOptions
from engines.ranker.provider import RankerProvider
from engines.registry import build_model, file_problem_at_start
from persona import GLOBAL_SYSTEM_PROMPT

from .analytics.learned import RewardWeights
from .config import ConfigError, Settings
from .conversation import Conversations
from .conversation.safety import ModerationEndpoint, Price, SafetyOptions
from .conversation.service import ChatService, ServiceOptions
from .database import store_for
from .ops.metrics import Metrics
from .ranker_active import served_ranker
from .reports.scheduler import ReportService
from .shared_windows import SharedWindows
from .storage import Store


@dataclass(slots=True)
class App:
    settings: Settings
    store: Store
    engine: BlendedEngine
    service: ChatService
    core: Conversations
    reports: ReportService | None = None
    shared: SharedWindows | None = None
    metrics: Metrics | None = None

    async def close(self) -> None:
        await self.core.stop()
        if self.reports is not None:
            await self.reports.shutdown()
        await self.service.memory.close()
        if self.shared is not None:
            await self.shared.close()
        await self.engine.close()
        await self.store.close()


def build_engine(settings: Settings, seed: int | None = None) -> BlendedEngine:
    """The blend of the configured models; a model file that cannot load stops the start
    (`ConfigError`: one line naming the file and the fix)."""
    for spec in settings.models:
        if (problem := file_problem_at_start(spec, settings.data_dir)) is not None:
            raise ConfigError(problem)
    models = [build_model(spec, settings.data_dir) for spec in settings.models]
    return BlendedEngine(
        models,
        default_weights=settings.default_weights,
        gate=FairGate(settings.local_concurrency),
        seed=seed if seed is not None else settings.seed,
        ranker=RankerProvider(lambda: served_ranker(settings), settings.ranker_threads),
        ranked=RankedOptions(aggregation=settings.ranker_aggregation,
                             samples=settings.ranker_samples, top_k=settings.ranker_top_k,
                             fuser=settings.fuse_model),
        bandit=settings.bandit,
    )


def safety_options(settings: Settings) -> SafetyOptions:
    """Budgets, prices and moderation from the config, as the core takes them."""
    endpoint = None if settings.moderation_url is None else ModerationEndpoint(
        settings.moderation_url, settings.moderation_kind, settings.moderation_model,
        settings.moderation_api_key_env, settings.moderation_timeout_s)
    prices = {m.id: Price(m.price_prompt_per_1k, m.price_completion_per_1k, m.daily_spend_cap)
              for m in settings.models
              if m.price_prompt_per_1k or m.price_completion_per_1k
              or m.daily_spend_cap is not None}
    return SafetyOptions(
        user_tokens=settings.quota_user_tokens, community_tokens=settings.quota_community_tokens,
        admins_exempt=settings.quota_admins_exempt, prices=prices, endpoint=endpoint,
        input_fail=settings.moderation_input_fail, output_fail=settings.moderation_output_fail)


async def build_app(settings: Settings, seed: int | None = None) -> App:
    """Open the database (migrating it) and wire the objects; models load on first use."""
    engine = build_engine(settings, seed)  # first: a model file that cannot load stops here
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = store_for(settings)
    await store.open()
    options = ServiceOptions(
        default_mode=settings.default_mode,
        history_limit=settings.history_limit,
        bot_name=settings.bot_name,
        global_system=settings.system_prompt or GLOBAL_SYSTEM_PROMPT,
        sampling=SamplingParams(max_tokens=settings.max_tokens),
        rate_limit=settings.rate_limit,
        rate_window_s=settings.rate_window_s,
        facts_budget=settings.facts_budget,
        learned_rewards=RewardWeights(**settings.learned_rewards.model_dump()),
        safety=safety_options(settings),
    )
    return assemble(settings, store, engine, options)


def assemble(settings: Settings, store: Store, engine: BlendedEngine,
             options: ServiceOptions) -> App:
    """The core over an open store and an engine (tests build theirs the same way), with
    this process's metrics."""
    metrics = Metrics()
    engine.observer = metrics
    metrics.watch(engine)
    if not options.secrets:  # this process's tokens and keys are never sent
        options = replace(options, secrets=tuple(settings.secret_values))
    service = ChatService(store, engine, options)
    reports = ReportService(store, on_run=metrics.report_ran)
    shared = SharedWindows.from_url(settings.redis_url) if settings.redis_url else None
    core = Conversations(service, reports, shared=shared, metrics=metrics)
    return App(settings, store, engine, service, core, reports, shared, metrics)
