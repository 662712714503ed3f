"""A one-off health check of the configured models, for `blendbot models`.

Remote models are asked for a one-token reply now; local models are only probed on request
(that loads their weights), otherwise they are reported as `unchecked`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .blended import BlendedEngine
from .health import BreakerConfig, ModelHealth
from .registry import ModelSpec, build_model


async def check_models(
    specs: Sequence[ModelSpec], data_dir: Path, *, include_local: bool = False,
    timeout_s: float = 15.0,
) -> list[ModelHealth]:
    """Each model's health, in configuration order (remote ones probed, each within
    `timeout_s`; local ones too with `include_local`)."""
    models = [build_model(spec, data_dir) for spec in specs]
    engine = BlendedEngine(models, breaker=BreakerConfig(probe_timeout_s=timeout_s))
    try:
        health = await engine.check_health(include_local=include_local)
    finally:
        await engine.close()
    local = {m.id for m in models if m.is_local}
    return [replace(h, state="unchecked") if h.model_id in local and not include_local else h
            for h in health]
