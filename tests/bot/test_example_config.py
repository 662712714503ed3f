from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from engines.registry import DEFAULT_MODELS

EXAMPLE = Path(__file__).resolve().parents[2] / "blendbot.example.toml"


def test_example_config_loads_and_matches_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLENDBOT_CONFIG", str(EXAMPLE))
    settings = load_settings()
    assert settings.models == list(DEFAULT_MODELS)
    assert settings.default_mode == "uniform"


def test_env_overrides_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BLENDBOT_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("BLENDBOT_DEFAULT_MODE", "weighted")
    monkeypatch.setenv("BLENDBOT_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.default_mode == "weighted"
    assert settings.database == f"sqlite+aiosqlite:///{tmp_path / 'blendbot.db'}"


def test_tokens_come_from_the_environment_and_stay_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BLENDBOT_CONFIG", raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", "s3cret-token")
    settings = load_settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.model_dump_json()
