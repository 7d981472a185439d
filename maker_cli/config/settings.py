"""Settings resolved once into a frozen object: flag > MAKER_* environment > config file > defaults.

The config file is YAML (`--config PATH`, or `MAKER_CONFIG`, or `maker.yaml` in the user config
dir). Unknown keys are errors that name the file and the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from maker_cli.errors import ConfigError
from maker_cli.config.paths import default_config_file


class Settings(BaseSettings):
    """Every default a command may fall back on. Commands override fields with their flags."""

    model_config = SettingsConfigDict(env_prefix="MAKER_", frozen=True, extra="forbid")

    model: str = Field("gpt-4.1-mini", description="litellm model string, or sim:... for the simulated model")
    api_base: str | None = Field(None, description="base URL of an OpenAI-compatible server")
    router_config: Path | None = Field(None, description="litellm Router config (YAML) for several deployments")
    k: int = Field(3, ge=1, description="vote margin: first answer ahead by k wins")
    max_samples: int | None = Field(None, ge=1, description="per-step sample cap; reaching it = undecided")
    eager: int = Field(0, ge=0, description="extra samples per round (cost for latency)")
    first_temperature: float = Field(0.0, ge=0, le=2)
    temperature: float = Field(0.1, ge=0, le=2)
    max_output_tokens: int = Field(750, ge=1, description="red-flag responses longer than this (tokens)")
    concurrency: int = Field(16, ge=1, description="calls in flight at once, across all steps")
    timeout: float = Field(60.0, gt=0, description="seconds per call")
    max_attempts: int = Field(6, ge=1, description="attempts per call, first included (429/5xx/timeouts)")
    price_in: float | None = Field(None, ge=0, description="USD per million input tokens")
    price_out: float | None = Field(None, ge=0, description="USD per million output tokens")
    target: float = Field(0.95, gt=0, lt=1, description="target probability that the whole job is right")
    store: Path | None = Field(None, description="SQLite run store (default: user data dir)")
    mcp_max_samples: int = Field(50, ge=1, description="MCP: cap on samples per tool call")
    mcp_max_cost_usd: float = Field(0.50, ge=0, description="MCP: cap on dollars per tool call")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path_for_load
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None and path.is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


_config_path_for_load: Path | None = None


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
    default = default_config_file()
    return default if default.is_file() else None


def load_settings(config: Path | None = None, **flags: Any) -> Settings:
    """Resolve settings once. `flags` holds command-line values; None means 'not given'."""
    global _config_path_for_load
    path = config_file(config)
    given = {k: v for k, v in flags.items() if v is not None}
    _config_path_for_load = path
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except Exception as exc:  # YAML syntax errors and the like
        raise ConfigError(f"{path}: {exc}") from None
    finally:
        _config_path_for_load = None


def _describe(exc: ValidationError, path: Path | None) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    where = f"{path}: " if path else ""
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}setting '{field}': {err['msg']}{more}"
