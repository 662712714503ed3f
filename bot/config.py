"""Settings: one TOML file (`BLENDBOT_CONFIG`, else `./blendbot.toml`) plus `BLENDBOT_*` env vars.

Secrets (platform tokens, API keys) are read from the environment only and never logged.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from engines import MODE_NAMES
from engines.bandit import BanditConfig
from engines.registry import DEFAULT_MODELS, ModelSpec, spec_error

SECRET_FIELDS = ("discord_token", "telegram_token")
SECRET_KEY = re.compile(r"(token|api_?key|password|passwd|secret|authorization|bearer)$",
                        re.IGNORECASE)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """The config file or environment is invalid; the message says where."""


class ModelSpecError(ConfigError):
    """A `[[models]]` table with an unknown backend or a missing path/URL (exit code 2)."""


def config_file() -> Path | None:
    explicit = os.environ.get("BLENDBOT_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"BLENDBOT_CONFIG points at {path}, which does not exist")
        return path
    local = Path("blendbot.toml")
    return local if local.is_file() else None


class LearnedRewards(BaseModel):
    """How much each signal counts for the `learned` mode: continued within 5 minutes and 👍
    toward a member's wins, 👎 and regenerate toward its losses."""

    model_config = ConfigDict(extra="forbid")

    continued: float = Field(default=1.0, ge=0.0)
    up: float = Field(default=1.0, ge=0.0)
    down: float = Field(default=1.0, ge=0.0)
    regenerate: float = Field(default=1.0, ge=0.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BLENDBOT_", extra="forbid",
                                      allow_inf_nan=False)

    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("blendbot"))
    database_url: str | None = None  # default: SQLite in data_dir
    # None: upgrade the schema on start for SQLite (under a file lock); elsewhere (PostgreSQL)
    # `blendbot db upgrade` is a deployment step and a start only checks the schema
    database_upgrade_on_start: bool | None = None
    database_pool_size: int = Field(default=5, ge=1)  # connections kept open
    database_max_overflow: int = Field(default=10, ge=0)  # extra ones at peaks
    database_pool_timeout_s: float = Field(default=30.0, gt=0)  # wait for a free connection
    database_connect_timeout_s: float = Field(default=10.0, gt=0)  # PostgreSQL connect
    database_busy_timeout_s: float = Field(default=30.0, ge=0)  # SQLite: wait for the lock
    bot_name: str = Field(default="Blendbot", min_length=1, max_length=64)
    system_prompt: str | None = None  # None: the default persona's
    default_mode: str = "uniform"
    seed: int | None = None
    max_tokens: int = Field(default=200, ge=1)
    history_limit: int = Field(default=200, ge=1)
    facts_budget: int = Field(default=200, ge=16)  # tokens of pinned facts in a prompt
    local_concurrency: int | None = Field(default=None, ge=1)
    log_level: str = "WARNING"
    log_format: str = "text"  # or "json": one JSON object per line (bot.logs)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # unset: no endpoint
    metrics_host: str = "0.0.0.0"  # where /metrics, /livez and /readyz listen
    rate_limit: int = Field(default=6, ge=1)  # messages per user ...
    rate_window_s: float = Field(default=30.0, gt=0)  # ... per this many seconds
    ranker_path: Path | None = None  # an exported ranker (.onnx); None: the shipped one
    ranker_threads: int | None = Field(default=None, ge=1)  # ONNX Runtime threads
    ranker_aggregation: Literal["bubble", "max_logits", "max_wins"] = "bubble"
    ranker_checkpoint: Path | None = None  # a PyTorch ranker directory, for `bench ranker`
    # `ranker refresh`: the least feedback pairs it trains on, how often a running bot with
    # the train extra refreshes (days; 0: never), and hh-rlhf-style pairs it must not get
    # worse on (their held-out part)
    ranker_refresh_min_pairs: int = Field(default=40, ge=8)
    ranker_refresh_days: int = Field(default=7, ge=0)
    ranker_dev_pairs: Path | None = None
    ranker_samples: int = Field(default=3, ge=2, le=16)  # best_of_n candidates, one-model blend
    ranker_top_k: int = Field(default=3, ge=2, le=8)  # candidates `fuse` merges
    fuse_model: str | None = None  # the model that fuses; default the first healthy member
    learned_min_share: float = Field(default=0.10, ge=0.0, le=1.0)  # `learned`: each member's floor
    learned_discount: float = Field(default=0.997, gt=0.0, le=1.0)  # per community reply
    learned_prior: float = Field(default=1.0, gt=0.0)  # Beta(prior, prior) for a new member
    learned_rewards: LearnedRewards = Field(default_factory=lambda: LearnedRewards())
    # privacy: blank message text older than this many days (aggregates stay); None: keep
    retention_days: int | None = Field(default=None, ge=1, le=36_500)
    # a community the bot was removed from is deleted this many days later unless it returns
    community_grace_days: int = Field(default=30, ge=0, le=3_650)

    # Safety and access (README: "Safety and access"); admins set lists and budgets per
    # community with /access, /quota and /moderation
    quota_user_tokens: int | None = Field(default=None, ge=0)  # daily, per user per community
    quota_community_tokens: int | None = Field(default=None, ge=0)  # daily, per community
    quota_admins_exempt: bool = True  # admins are not held to the budgets
    moderation_url: str | None = None  # an OpenAI-compatible API base, e.g. http://vllm:8000/v1
    moderation_kind: Literal["moderations", "guard"] = "moderations"  # /moderations or a
    # guard model (e.g. Llama Guard) asked over /chat/completions
    moderation_model: str | None = None  # the server's model name
    moderation_api_key_env: str | None = None  # the environment variable holding its key
    moderation_timeout_s: float = Field(default=5.0, gt=0)
    moderation_input_fail: Literal["open", "closed"] = "open"  # the endpoint is down: ...
    moderation_output_fail: Literal["open", "closed"] = "closed"  # ... let through or refuse

    # several processes, one bot: per-user limits, platform budgets and Discord's identify
    # pacing shared through this Redis (e.g. redis://host:6379/0); unset: in process
    redis_url: str | None = Field(default=None, exclude=True)

    # Discord (DISCORD_TOKEN from the environment)
    discord_api_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str | None = None
    discord_shards: str = "all"  # "all" or "A-B/N": this process runs shards A..B of N
    discord_dev_guild: int | None = None  # sync commands to this guild only (fast)

    # Telegram (TELEGRAM_TOKEN from the environment)
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None  # set: webhook mode instead of long polling
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = 8443
    models: list[ModelSpec] = Field(default_factory=lambda: list(DEFAULT_MODELS))

    # Secrets: environment only (plain names, as the platforms' docs use them).
    discord_token: SecretStr | None = Field(default=None, exclude=True)
    telegram_token: SecretStr | None = Field(default=None, exclude=True)

    @field_validator("default_mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in MODE_NAMES:
            raise ValueError(f"must be one of {', '.join(MODE_NAMES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (got '{value[:40]}')")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value.strip().lower() not in LOG_FORMATS:
            raise ValueError(f"must be one of {', '.join(LOG_FORMATS)} (got '{value}')")
        return value.strip().lower()

    @field_validator("discord_shards")
    @classmethod
    def _shard_range(cls, value: str) -> str:
        shard_range(value)  # raises with the reason
        return value

    @field_validator("models")
    @classmethod
    def _unique_ids(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        ids = [m.id for m in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate model id '{dupes[0]}'")
        if not value:
            raise ValueError("at least one model is needed")
        if all(m.weight == 0 for m in value):
            raise ValueError("every model has weight 0, so none could ever be drawn; give "
                             "at least one a weight above 0")
        return value

    @field_validator("moderation_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"must be an http(s):// URL (got '{value[:60]}')")
        return value

    @model_validator(mode="after")
    def _known_fuse_model(self) -> Settings:
        ids = [m.id for m in self.models]
        if self.fuse_model is not None and self.fuse_model not in ids:
            raise ValueError(f"fuse_model: '{self.fuse_model}' is not a configured model "
                             f"({', '.join(ids)})")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, _SecretEnv(settings_cls)]
        path = config_file()
        if path is not None:
            try:
                sources.append(_TomlWithoutSecrets(settings_cls, toml_file=path))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {path}: {exc}") from None
        return tuple(sources)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'blendbot.db'}"

    @property
    def upgrades_on_start(self) -> bool:
        """Whether a start migrates the schema (else it only checks it)."""
        if self.database_upgrade_on_start is not None:
            return self.database_upgrade_on_start
        return self.database.startswith("sqlite")

    @property
    def discord_shard_range(self) -> tuple[list[int] | None, int | None]:
        """(shard ids, shard count) this process runs; (None, None): all, as Discord says."""
        return shard_range(self.discord_shards)

    @property
    def secret_values(self) -> list[str]:
        """The secrets this process holds (tokens, webhook secret, model API keys), for the
        log formatter to mask."""
        values = [t.get_secret_value() for t in (self.discord_token, self.telegram_token) if t]
        names = [WEBHOOK_SECRET_ENV, *(m.api_key_env for m in self.models if m.api_key_env),
                 *([self.moderation_api_key_env] if self.moderation_api_key_env else [])]
        return [*values, *(os.environ[n] for n in names if os.environ.get(n))]

    @property
    def default_weights(self) -> dict[str, float]:
        return {m.id: m.weight for m in self.models}

    @property
    def bandit(self) -> BanditConfig:
        """The `learned` mode's discount, prior and floor."""
        return BanditConfig(self.learned_discount, self.learned_prior, self.learned_min_share)


_SHARDS = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_range(spec: str) -> tuple[list[int] | None, int | None]:
    """`all`, or `A-B/N`: shards A..B of N (a `ValueError` says what is wrong)."""
    if spec.strip().lower() in ("", "all"):
        return None, None
    match = _SHARDS.match(spec)
    if not match:
        raise ValueError(f"must be 'all' or 'A-B/N' (got '{spec}')")
    first, last, count = (int(g) for g in match.groups())
    if not (0 <= first <= last < count):
        raise ValueError(f"'{spec}': need 0 <= A <= B < N (shards are 0..N-1)")
    return list(range(first, last + 1)), count


class _SecretEnv(PydanticBaseSettingsSource):
    """`DISCORD_TOKEN` / `TELEGRAM_TOKEN` from the environment."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return os.environ.get(field_name.upper()), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {f: os.environ[f.upper()] for f in SECRET_FIELDS if os.environ.get(f.upper())}


def secret_keys(data: object, where: str = "") -> list[str]:
    """Where in a parsed TOML document a key names a secret (`models.0.extra_params.api_key`);
    `*_env` keys name an environment variable and are fine."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            name = str(key).lower()
            if not name.endswith("_env") and (name in SECRET_FIELDS or SECRET_KEY.search(name)):
                found.append(path)
            found += secret_keys(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += secret_keys(value, f"{where}.{i}")
    return found


class _TomlWithoutSecrets(TomlConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        leaked = secret_keys(data)
        if leaked and "." not in leaked[0]:
            raise ConfigError(
                f"{leaked[0]} must not be in the config file; set it in the environment "
                f"({leaked[0].upper()})"
            )
        if leaked:
            raise ConfigError(
                f"{leaked[0]} looks like a secret and must not be in the config file; keep "
                "it in the environment (a model's API key: name its variable in api_key_env)"
            )
        return data


WEBHOOK_SECRET_ENV = "BLENDBOT_TELEGRAM_WEBHOOK_SECRET"
WEBHOOK_SECRET_FORM = re.compile(r"[A-Za-z0-9_-]{1,256}")


def telegram_webhook_secret() -> str:
    """Telegram's webhook `secret_token`, from the environment only."""
    secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    if not WEBHOOK_SECRET_FORM.fullmatch(secret):
        raise ConfigError(f"webhook mode needs {WEBHOOK_SECRET_ENV}: 1-256 characters of "
                          "A-Z, a-z, 0-9, _ and -")
    return secret


def load_settings(**overrides: Any) -> Settings:
    """Settings from env + TOML, with `ConfigError` carrying a one-line reason on failure."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        error = ModelSpecError if spec_error(exc) is not None else ConfigError
        reason = first["msg"].removeprefix("Value error, ")
        raise error(f"invalid setting {where}: {reason}" if where
                    else f"invalid settings: {reason}") from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(str(exc)) from None
