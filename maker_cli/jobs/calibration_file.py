"""The calibration file: what `maker calibrate --out FILE` measures and `--calibration FILE` reads.

A JSON object (YAML is read too) validated by a strict pydantic model; unknown keys are errors.
`p` is the probability that one *valid* sample is correct and `valid_rate` the share of samples
that are not red-flagged, each with a confidence interval (`method`, e.g. "wilson"). Token counts
are means per call; prices are USD per million tokens (optional: looked up by model otherwise).

Example:
    {"model": "gpt-4.1-mini", "task": "hanoi", "temperature": 0.1, "p": 0.9978,
     "p_ci": [0.9966, 0.9986], "valid_rate": 0.99, "valid_rate_ci": [0.988, 0.992],
     "mean_input_tokens": 1650, "mean_output_tokens": 538, "price_in": 0.4, "price_out": 1.6,
     "samples": 10000, "created_at": "2026-01-30T12:00:00Z", "method": "wilson"}
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maker_cli.bounded_yaml import parse_yaml, read_text_file
from maker_cli.errors import SpecError

Interval = tuple[float, float]


class Calibration(BaseModel):
    """One model's measured accuracy, validity and token use on one task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, description="litellm model string the samples came from")
    task: str = Field(min_length=1, description="task name or spec path")
    temperature: float = Field(ge=0, le=2, description="sampling temperature of the calibration")
    p: float = Field(ge=0, le=1, description="P(one valid sample is correct)")
    p_ci: Interval = Field(description="confidence interval for p (low, high)")
    valid_rate: float = Field(ge=0, le=1, description="share of samples not red-flagged")
    valid_rate_ci: Interval = Field(description="confidence interval for valid_rate (low, high)")
    mean_input_tokens: float = Field(ge=0, description="mean input tokens per call")
    mean_cached_tokens: float | None = Field(
        None, ge=0, description="mean input tokens per call served from the prompt cache (their share: cached_share)"
    )
    mean_output_tokens: float = Field(ge=0, description="mean output tokens per call")
    price_in: float | None = Field(None, ge=0, description="USD per million input tokens")
    price_out: float | None = Field(None, ge=0, description="USD per million output tokens")
    samples: int = Field(ge=1, description="samples drawn for the calibration")
    created_at: datetime
    method: str | None = Field(None, description="how the intervals were computed, e.g. 'wilson'")

    @model_validator(mode="after")
    def _intervals_hold_estimates(self) -> Calibration:
        for name, value, (low, high) in (
            ("p_ci", self.p, self.p_ci),
            ("valid_rate_ci", self.valid_rate, self.valid_rate_ci),
        ):
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"{name} must be [low, high] with 0 <= low <= high <= 1")
            if not low <= value <= high:
                raise ValueError(f"{name} [{low}, {high}] does not contain the estimate {value}")
        if self.mean_cached_tokens is not None and self.mean_cached_tokens > self.mean_input_tokens:
            raise ValueError("mean_cached_tokens cannot exceed mean_input_tokens (cached tokens are part of the input)")
        return self

    @property
    def cached_share(self) -> float | None:
        """The share of the input tokens served from the prompt cache, when the calibration measured it."""
        if self.mean_cached_tokens is None or not self.mean_input_tokens:
            return None
        return self.mean_cached_tokens / self.mean_input_tokens


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file; SpecError naming the file and the field otherwise."""
    path = Path(path)
    text = read_text_file(path, "calibration file")
    if path.suffix.lower() in (".yaml", ".yml"):
        data = parse_yaml(text, str(path))
    else:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise SpecError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a calibration file holds one object (mapping), got {type(data).__name__}")
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc, path)) from None


def save_calibration(calibration: Calibration, path: str | Path) -> None:
    """Write a calibration as indented JSON (parents created; replaced atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(calibration.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


_SHOWN = 3  # problems named in the one line; the rest counted


def _describe(exc: ValidationError, path: Path) -> str:
    """One line naming the first few problems, wrong values before missing fields (so `p: 2` is
    never hidden behind them), then how many more."""
    errors = sorted(exc.errors(include_url=False), key=lambda err: err["type"] == "missing")  # stable
    named = [
        f"field '{'.'.join(str(part) for part in err['loc']) or '(top level)'}': "
        + str(err["msg"]).removeprefix("Value error, ")
        for err in errors[:_SHOWN]
    ]
    more = f" (and {len(errors) - _SHOWN} more)" if len(errors) > _SHOWN else ""
    return f"{path}: {'; '.join(named)}{more}"
