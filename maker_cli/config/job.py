"""One job's settings, merged once in one documented order.

Precedence, highest first (each layer only where it sets a value):

1. an explicit flag (CLI) or keyword (Python API, MCP tool argument);
2. the calibration file given with `--calibration` (its model and prices: what was measured);
3. the task spec (`model`, `voting.*`, `red_flags.max_output_tokens`, `red_flags.must_not_match`,
   `red_flags.preset`; the spec's own red-flag checks, `red_flag_checks`, come only from it);
4. `MAKER_*` environment variables;
5. the config file;
6. the defaults.

`merge_job_settings` is the only place these layers meet; `JobSettings.sources` says for every
field which layer won, and every command reports it (`--json`: `settings` and `settings_sources`).
Every value is validated here, once (a NaN timeout or a negative price is one clear error).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from maker_cli._types import JSONObject, OptionValue
from maker_cli.config.settings import Settings
from maker_cli.core.engine import EarlyStop
from maker_cli.core.race import VotingMethod
from maker_cli.core.redflags import DEFAULT_PRESET, RedFlagChecks, RedFlagPreset, RedFlagRules
from maker_cli.errors import UsageError
from maker_cli.secrets import redact
from maker_cli.untrusted_regex import UntrustedPattern

LAYERS = ("flag", "calibration", "spec", "env", "config", "default")


class JobSettings(BaseModel):
    """What one vote, run or calibration uses: voting, red flags, spending and the provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    api_base: str | None = None
    router_config: Path | None = None
    prompt_cache: bool = False  # cache_control on the system message (providers with explicit cache breakpoints)
    timeout: float = Field(gt=0, allow_inf_nan=False)
    max_attempts: int = Field(ge=1)
    k: int = Field(ge=1)
    max_samples: int | None = Field(None, ge=1)
    max_red_flags: int | None = Field(None, ge=1)  # None: maths.default_max_red_flags(k, valid rate)
    eager: int = Field(0, ge=0)
    method: VotingMethod = VotingMethod.AHEAD_BY_K
    # early stopping (any method; both or neither): decide for a confident leader after this many votes
    early_stop_votes: int | None = Field(None, ge=1)
    early_stop_confidence: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    first_temperature: float = Field(ge=0, le=2, allow_inf_nan=False)
    temperature: float = Field(ge=0, le=2, allow_inf_nan=False)
    max_output_tokens: int | None = Field(ge=1)
    must_not_match: tuple[str, ...] = ()
    red_flags: RedFlagPreset = DEFAULT_PRESET  # the preset: paper, relaxed or strict (core.redflags.PRESETS)
    red_flag_checks: RedFlagChecks | None = None  # the spec's own checks, on top of the preset
    concurrency: int = Field(ge=1)
    price_in: float | None = Field(None, ge=0, allow_inf_nan=False)
    price_out: float | None = Field(None, ge=0, allow_inf_nan=False)
    target: float = Field(gt=0, lt=1, allow_inf_nan=False)
    max_cost: float | None = Field(None, ge=0, allow_inf_nan=False)
    sources: dict[str, str] = Field(default_factory=dict, exclude=True)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value.startswith("/") or value.endswith("/"):
            raise ValueError("write provider/model (e.g. openai/gpt-4.1-mini) or sim:...")
        return value

    @field_validator("api_base")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("not an http:// or https:// URL with a host")
        return value

    @field_serializer("api_base", when_used="json")
    def _api_base_out(self, value: str | None) -> str | None:
        """A URL's user:password (or a key in its query) never reaches --json or the run store."""
        return None if value is None else redact(value)

    @field_validator("must_not_match")
    @classmethod
    def _patterns(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            UntrustedPattern(value, "pattern")  # ValueError: one line naming the pattern
        return values

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def rules(self) -> RedFlagRules:
        """The red-flag rules every sample passes before it is judged."""
        return RedFlagRules.preset(
            self.red_flags,
            max_output_tokens=self.max_output_tokens,
            must_not_match=self.must_not_match,
            checks=self.red_flag_checks,
        )

    def early_stop(self) -> EarlyStop | None:
        """The early-stopping rule, when both of its settings are given."""
        if self.early_stop_votes is None or self.early_stop_confidence is None:
            return None
        return EarlyStop(self.early_stop_votes, self.early_stop_confidence)

    def report(self) -> JSONObject:
        """The values as JSON (what `--json` prints as `settings`)."""
        return self.model_dump(mode="json")


JOB_FIELDS = tuple(name for name in JobSettings.model_fields if name != "sources")
_FLAG_NAMES = {name: "--" + name.replace("_", "-") for name in JOB_FIELDS}


def merge_job_settings(
    settings: Settings,
    *,
    flags: Mapping[str, OptionValue] | None = None,
    spec: Mapping[str, OptionValue] | None = None,
    calibration: Mapping[str, OptionValue] | None = None,
) -> JobSettings:
    """Merge the layers (see the module doc); UsageError naming the field and its layer if invalid."""
    layers = (("flag", flags or {}), ("calibration", calibration or {}), ("spec", spec or {}))
    for name, layer in layers:
        unknown = sorted(set(layer) - set(JOB_FIELDS))
        if unknown:
            raise ValueError(f"not job settings ({name}): {', '.join(unknown)}")
    values: dict[str, OptionValue] = {}
    sources: dict[str, str] = {}
    for field in JOB_FIELDS:
        for name, layer in layers:
            if layer.get(field) is not None:
                values[field], sources[field] = layer[field], name
                break
        else:
            if field in Settings.model_fields:
                values[field], sources[field] = getattr(settings, field), settings.source_of(field)
            else:
                values[field], sources[field] = JobSettings.model_fields[field].default, "default"
    try:
        job = JobSettings(**values, sources=sources)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        message = str(err["msg"]).removeprefix("Value error, ")
        where = {
            "flag": _FLAG_NAMES.get(field, field),
            "spec": f"the spec's {field}",
            "calibration": f"the calibration's {field}",
        }.get(sources.get(field, ""), f"setting {field!r}")
        raise UsageError(f"{where}: {message} (got {values.get(field)!r})") from None
    if (job.early_stop_votes is None) != (job.early_stop_confidence is None):
        given = "early_stop_votes" if job.early_stop_votes is not None else "early_stop_confidence"
        raise UsageError(
            f"early stopping needs both --early-stop-votes and --early-stop-confidence "
            f"(only {given} was set, by the {sources.get(given, 'default')} layer)"
        )
    return job
