"""Settings from the environment and the config file: `MAKER_*` > config file > defaults.

The config file is YAML (`--config PATH`, or `MAKER_CONFIG`, or `maker.yaml` in the user config
dir), read within the same limits as specs; unknown keys are errors that name the file and the
key. `Settings.source_of(name)` says where each value came from ('env', 'config' or 'default'),
so a job's settings can say why they are what they are (`maker_cli.config.job`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, PrivateAttr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from maker_cli._types import JSONObject, JSONValue, OptionValue
from maker_cli.bounded_yaml import read_yaml_file
from maker_cli.config.paths import default_config_file
from maker_cli.core.race import VotingMethod
from maker_cli.errors import ConfigError, SpecError

ENV_PREFIX = "MAKER_"


class Settings(BaseSettings):
    """Every default a command may fall back on. Jobs layer specs and flags over these."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    model: str = Field("gpt-4.1-mini", description="litellm model string, or sim:... for the simulated model")
    api_base: str | None = Field(None, description="base URL of an OpenAI-compatible server")
    router_config: Path | None = Field(None, description="litellm Router config (YAML) for several deployments")
    k: int = Field(3, ge=1, description="vote margin: first answer ahead by k wins")
    max_samples: int | None = Field(None, ge=1, description="per-step sample cap; reaching it = undecided")
    max_red_flags: int | None = Field(
        None,
        ge=1,
        description="red-flagged samples that end a step undecided (default: 200 + 10 k, more for a "
        "valid rate below 1; maker_cli.core.maths.default_max_red_flags)",
    )
    eager: int = Field(0, ge=0, description="extra samples per round (cost for latency)")
    method: VotingMethod = Field(
        VotingMethod.AHEAD_BY_K,
        description="voting method: ahead-by-k (the paper's, the default), first-to-k, cisc or borda",
    )
    first_temperature: float = Field(0.0, ge=0, le=2)
    temperature: float = Field(0.1, ge=0, le=2)
    max_output_tokens: int = Field(750, ge=1, description="red-flag responses longer than this (tokens)")
    concurrency: int = Field(16, ge=1, description="calls in flight at once, across all steps")
    timeout: float = Field(60.0, gt=0, allow_inf_nan=False, description="seconds per call")
    max_attempts: int = Field(6, ge=1, description="attempts per call, first included (429/5xx/timeouts)")
    price_in: float | None = Field(None, ge=0, allow_inf_nan=False, description="USD per million input tokens")
    price_out: float | None = Field(None, ge=0, allow_inf_nan=False, description="USD per million output tokens")
    target: float = Field(0.95, gt=0, lt=1, description="target probability that the whole job is right")
    max_cost: float | None = Field(None, ge=0, allow_inf_nan=False, description="USD cap on one job")
    store: Path | None = Field(None, description="SQLite run store (default: user data dir)")
    mcp_max_samples: int = Field(50, ge=1, description="MCP: cap on samples per tool call")
    mcp_max_cost_usd: float = Field(0.50, ge=0, allow_inf_nan=False, description="MCP: cap on dollars per tool call")
    mcp_max_session_cost_usd: float | None = Field(
        5.00, ge=0, allow_inf_nan=False, description="MCP: cap on dollars for all calls of one server process"
    )

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ConfigFileSource(settings_cls, _config_data))

    def source_of(self, name: str) -> str:
        """'env', 'config', or 'default': where this field's value came from."""
        return self._sources.get(name, "default")


class _ConfigFileSource(PydanticBaseSettingsSource):
    """The config file's values (already read and parsed within the YAML limits)."""

    def __init__(self, settings_cls: type[BaseSettings], data: JSONObject) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(
        self, field: FieldInfo, field_name: str
    ) -> tuple[JSONValue, str, bool]:  # pragma: no cover - unused
        return self.data.get(field_name), field_name, False

    def __call__(self) -> JSONObject:
        return dict(self.data)


_config_data: JSONObject = {}


def config_file(explicit: Path | None = None) -> Path | None:
    """The config file in force: --config, else MAKER_CONFIG, else the default if it exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    env = os.environ.get("MAKER_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from MAKER_CONFIG)")
        return path
    try:
        default = default_config_file()
        return default if default.is_file() else None
    except OSError:  # an unreadable home: no default config file
        return None


def _read_config(path: Path) -> JSONObject:
    try:
        data = read_yaml_file(path, "config file")
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config file is a mapping of settings (model: ..., k: ...), not a {type(data).__name__}"
        )
    return {str(key): value for key, value in data.items()}


def load_settings(config: Path | None = None, **flags: OptionValue) -> Settings:
    """Resolve settings once. `flags` (None = not given) win over the environment and the file."""
    global _config_data
    path = config_file(config)
    data = _read_config(path) if path is not None else {}
    given = {k: v for k, v in flags.items() if v is not None}
    env = {name for name in Settings.model_fields if f"{ENV_PREFIX}{name.upper()}" in {k.upper() for k in os.environ}}
    _config_data = data
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, env)) from None
    finally:
        _config_data = {}
    sources = {name: "config" for name in data if name in Settings.model_fields}
    sources.update(dict.fromkeys(env, "env"))
    sources.update(dict.fromkeys(given, "flag"))
    settings._sources = sources
    return settings


def _describe(exc: ValidationError, path: Path | None, env: set[str]) -> str:
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = f"unknown setting (known: {', '.join(Settings.model_fields)})"
    where = f"{ENV_PREFIX}{field.upper()}: " if field in env else f"{path}: " if path else ""
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}setting '{field}': {message}{more}"
