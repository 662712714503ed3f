"""`[[models]]` tables: each backend's keys, and `SpecError` for tables that cannot work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engines.checkup import check_models
from engines.ctransformers import CTransformersModel
from engines.llamacpp import LlamaCppModel
from engines.openai import OpenAIModel
from engines.registry import ModelSpec, SpecError, build_model, spec_error
from tests.engines.conftest import free_port


def spec_problem(table: dict[str, Any]) -> SpecError | None:
    try:
        ModelSpec.model_validate(table)
    except ValidationError as exc:
        return spec_error(exc)
    raise AssertionError("the table was accepted")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"id": "x", "backend": "tgi", "base_url": "http://h"}, "unknown backend 'tgi'"),
        ({"id": "x", "backend": "openai"}, "needs base_url or base_urls"),
        ({"id": "x", "backend": "openai", "base_urls": []}, "needs base_url or base_urls"),
        ({"id": "x", "backend": "openai", "base_url": "http://a", "base_urls": ["http://b"]},
         "not both"),
        ({"id": "x", "backend": "openai", "base_url": "localhost:8000"}, "http:// or https://"),
        ({"id": "x", "backend": "openai", "base_url": "http://a", "api_key_env": "sk-123"},
         "must name an environment variable"),
        ({"id": "x", "backend": "openai", "base_url": "http://a", "path": "m.gguf"},
         "path does not apply"),
        ({"id": "x", "backend": "llamacpp"}, "needs a path"),
        ({"id": "x", "path": "m.gguf", "base_url": "http://a"}, "base_url does not apply"),
        ({"id": "x", "backend": "ctransformers", "path": "m.bin", "kv_cache_mb": 1},
         "kv_cache_mb does not apply"),
        ({"id": "x", "backend": "ctransformers", "path": "m.bin",
          "prompt_format": "chat_template"}, "only prompt_format"),
    ],
)
def test_tables_that_cannot_work_raise_spec_error(table: dict[str, Any], message: str) -> None:
    problem = spec_problem(table)
    assert problem is not None and message in str(problem)


def test_other_validation_errors_are_not_spec_errors() -> None:
    assert spec_problem({"id": "bad id!", "path": "m.gguf"}) is None


def test_each_backend_builds_its_model(tmp_path: Path) -> None:
    local = build_model(ModelSpec(id="a", path="m.gguf", kv_cache_mb=64), tmp_path)
    assert isinstance(local, LlamaCppModel) and local.options.kv_cache_bytes == 64 * 2**20
    remote = build_model(ModelSpec.model_validate({
        "id": "b", "backend": "openai", "base_urls": ["http://h1:8000/v1", "http://h2:8000"],
        "api_key_env": "VLLM_KEY", "concurrency": 3, "max_queue": 5}), tmp_path)
    assert isinstance(remote, OpenAIModel)
    assert remote.options.model == "b"  # the server's name defaults to the id
    assert [e.url("/v1/models") for e in remote.pool.endpoints] == [
        "http://h1:8000/v1/models", "http://h2:8000/v1/models"]
    assert remote.max_parallel == 6 and remote.max_queue == 5 and not remote.is_local
    ggml = build_model(ModelSpec(id="c", backend="ctransformers", path="m.bin",
                                 model_type="gpt2"), tmp_path)
    assert isinstance(ggml, CTransformersModel) and ggml.is_local


async def test_check_models_probes_remote_models_only(tmp_path: Path) -> None:
    specs = [ModelSpec(id="local", path="missing.gguf"),
             ModelSpec(id="gone", backend="openai", base_url=f"http://127.0.0.1:{free_port()}",
                       max_retries=0)]
    health = await check_models(specs, tmp_path, timeout_s=10)
    assert [(h.model_id, h.state) for h in health] == [("local", "unchecked"), ("gone", "failing")]
    assert "127.0.0.1" in (health[1].last_error or "")
    assert health[1].as_json()["state"] == "failing"


def test_the_vllm_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import load_settings

    path = Path(__file__).resolve().parents[2] / "deploy" / "blendbot.vllm.toml"
    monkeypatch.setenv("BLENDBOT_CONFIG", str(path))
    local, remote = load_settings().models
    assert local.backend == "llamacpp" and local.kv_cache_mb == 256
    assert remote.backend == "openai" and remote.urls == ["http://vllm:8000/v1"]
    assert remote.api_key_env == "VLLM_API_KEY" and remote.extra_params["top_k"] == 40
