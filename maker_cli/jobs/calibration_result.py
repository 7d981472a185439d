"""What a calibration measured, and the k it recommends: `maker calibrate --json` is
`CalibrationResult.model_dump(mode="json")` (the MCP tool maker_calibrate adds its guard)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from maker_cli._types import JSONObject
from maker_cli.jobs.pairs import PairStats
from maker_cli.specs.prompt_file import PromptRecord
from maker_cli.tasks.hanoi_task import HanoiBreakdown

CONFIDENCE = 0.95
WILSON = "wilson"


class Recommendation(BaseModel):
    """k for a target over some steps, from the lower confidence bound of p, and what it costs."""

    steps: int
    target: float
    p_used: float | None = Field(None, description="the p the recommendation uses (the lower confidence bound)")
    basis: str
    recommended_k: int | None = None
    k_at_point_estimate: int | None = None
    p_full: float | None = None
    expected_votes_per_step: float | None = None
    expected_samples_per_step: float | None = None
    expected_calls: float | None = None
    expected_cost_usd: float | None = None
    expected_input_tokens: float | None = None
    expected_output_tokens: float | None = None
    cost_per_call_usd: float | None = None
    price_in: float | None = None
    price_out: float | None = None
    price_source: str | None = None
    message: str | None = None


class CalibrationResult(BaseModel):
    """p (P(a valid sample is correct)) and the valid rate with Wilson intervals, and what they imply."""

    task: str
    source: str = Field(description="what was sampled, e.g. 'hanoi, 10 disks' or 'task x, 20 items'")
    model: str
    simulated: bool
    temperature: float
    method: str = WILSON
    confidence: float = CONFIDENCE
    requested: int = Field(description="samples asked for")
    samples: int = Field(description="completions received (red-flagged ones included; failed calls never)")
    valid: int
    correct: int
    red_flagged: int
    p: float | None = Field(description="P(one valid sample is correct) = correct / valid")
    p_ci: tuple[float, float] = Field(description="confidence interval of p (Wilson)")
    valid_rate: float | None = Field(description="share of samples not red-flagged")
    valid_rate_ci: tuple[float, float]
    red_flags: dict[str, int] = Field(description="reason -> count")
    red_flag_details: dict[str, int] = Field(description="reason with detail -> count")
    errors: dict[str, int] = Field(description="kind of wrong answer -> count")
    call_errors: int = Field(description="calls that failed after their retries (never samples)")
    retries: int
    mean_input_tokens: float | None = Field(description="per request (the prompt is billed once per request)")
    mean_cached_tokens: float | None = Field(
        None,
        description="per request: the part of the input served from the provider's prompt cache (null: not reported)",
    )
    mean_output_tokens: float | None = Field(description="per sample")
    cost_usd: float | None = Field(description="everything the calibration spent; null when a price was unknown")
    cost_per_call_usd: float | None
    probes: int = Field(description="steps or dataset items sampled")
    distinct_probes: int
    seed: int | None
    wall_s: float
    hanoi: HanoiBreakdown | None = None
    pairs: PairStats | None = None
    collisions: int | None = None
    expected_collisions: float | None = None
    correlated: bool | None = Field(None, description="with pairs: wrong answers coincide more than chance allows")
    notes: list[str] = Field(default_factory=list)
    recommended_k: int | None = Field(None, description="k for the target over the steps, from the lower bound of p")
    recommendation: Recommendation | None = None
    cannot_converge: str | None = Field(None, description="why voting cannot work for this model and task")
    calibration_file: str | None = Field(None, description="the calibration file written (--out)")
    warnings: list[str] = Field(default_factory=list)
    settings: JSONObject | None = Field(None, description="the job settings the calibration used")
    settings_sources: dict[str, str] | None = Field(None, description="which layer set each setting")
    prompt: PromptRecord | None = Field(None, description="the prompt sampled: name, sha256, source, the templates")


class CalibrationProgress(BaseModel):
    """Passed to `on_progress` after each call: counts so far."""

    done: int  # samples received
    total: int  # samples requested
    valid: int
    correct: int
    call_errors: int
