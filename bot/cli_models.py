"""`blendbot models`: the configured models, where their weights or endpoints are, health."""

from __future__ import annotations

import json
from typing import Any

from engines.checkup import check_models

from .config import Settings

PROBE_TIMEOUT_S = 5.0


async def run(settings: Settings, as_json: bool) -> int:
    health = {h.model_id: h.as_json() for h in await check_models(
        settings.models, settings.data_dir, include_local=False, timeout_s=PROBE_TIMEOUT_S)}
    rows: list[dict[str, Any]] = []
    for spec in settings.models:
        source = spec.source(settings.data_dir) if spec.path else None
        local = source.local_path() if source else None
        problem = source.problem(gguf=spec.backend == "llamacpp") if source else None
        rows.append({
            "id": spec.id,
            "backend": spec.backend,
            "path": spec.path,
            "endpoints": list(spec.urls) if not spec.path else [],
            "file": str(local) if local else None,
            "file_present": bool(local and local.is_file()),
            "file_problem": problem,  # a broken, truncated or non-GGUF file: why
            "n_ctx": spec.n_ctx,
            "prompt_format": spec.prompt_format,
            "weight": spec.weight,
            "loaded": False,  # a fresh CLI process has loaded nothing; models load lazily
            "health": health.get(spec.id),
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        where = r["file"] or r["path"] or ", ".join(r["endpoints"])
        if r["path"]:
            state = ("broken: " + r["file_problem"] if r["file_present"] and r["file_problem"]
                     else "present" if r["file_present"] else "not yet on disk")
        else:
            state = (r["health"] or {}).get("state", "unchecked")
        print(f"{r['id']:<16} {r['backend']:<10} n_ctx={r['n_ctx']:<6} "
              f"{r['prompt_format']:<13} weight={r['weight']:<4} {where} ({state})")
    return 0
