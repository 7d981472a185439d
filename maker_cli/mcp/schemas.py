"""What the MCP tools return: the library's result models, plus the spending guard's report.

The output schemas a client sees are generated from these models, so `maker_vote` answers the
fields of `maker vote --json` (and the guard's), `maker_estimate` those of `maker estimate --json`,
`maker_calibrate` those of `maker calibrate --json`. Every field declares its type.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from maker_cli._types import JSONValue
from maker_cli.core.estimate_report import EstimateReport
from maker_cli.jobs.calibration_result import CalibrationResult
from maker_cli.jobs.prompt_compare import PromptRow
from maker_cli.jobs.vote import VoteResult

JsonValue = Annotated[
    JSONValue, WithJsonSchema({"type": ["string", "number", "integer", "boolean", "array", "object", "null"]})
]
EstimateOutput = EstimateReport
StopReason = Literal["done", "sample_cap", "red_flags", "cost_cap"]


class GuardFields(BaseModel):
    """The spending guard's report on one call."""

    spent_usd: float | None = Field(description="dollars this call spent (null: a price was unknown)")
    session_spent_usd: float = Field(description="dollars spent by all calls to this server process so far")
    session_remaining_usd: float | None = Field(description="dollars the session may still spend (null: no cap)")
    sample_cap: int = Field(description="samples this call was allowed: min(requested, mcp_max_samples)")
    cost_cap_usd: float = Field(
        description="this call's dollar cap (mcp_max_cost_usd, or less if the session has less)"
    )
    worst_case_usd: float | None = Field(description="the worst-case cost checked before calling (null: unknown)")
    stop_reason: StopReason = Field(
        description="done; sample_cap or red_flags: undecided at that cap; cost_cap: stopped at the dollar cap"
    )
    guard_notes: list[str] = Field(default_factory=list)


class GuardReport(GuardFields):
    pass


class VoteOutput(GuardFields, VoteResult):
    """The fields `maker vote --json` prints, then the spending guard's."""


class PromptComparisonOut(BaseModel):
    """A prompt comparison without the full calibrations (the top level holds the recommended one's)."""

    test: str
    alpha: float
    ranked_by: str
    recommended: str | None
    why: str
    prompts: list[PromptRow]


class CalibrateOutput(CalibrationResult):
    """The fields `maker calibrate --json` prints, the mode, and (model mode) the guard's report."""

    mode: Literal["labelled", "model"]
    guard: GuardReport | None = Field(None, description="the spending guard (model mode only)")
    comparison: PromptComparisonOut | None = Field(
        None, description="with 2 or more prompts: every prompt's row, the recommended one and why"
    )


class RedFlagOut(BaseModel):
    reason: str = Field(description="too_long, truncated, empty, forbidden_pattern or format")
    detail: str = ""
    label: str


class ValidateOutput(BaseModel):
    valid: bool = Field(description="true when no red flag was raised: the response would count as a vote")
    answer: str | None = Field(description="the canonical answer it votes for (null if the format check failed)")
    value: JsonValue = Field(None, description="the extracted value before canonicalisation (any JSON value)")
    red_flags: list[RedFlagOut] = Field(description="every problem found (the engine discards on the first)")
    checks: list[str] = Field(description="the checks that ran")
    notes: list[str] = Field(default_factory=list)


class ConfigureOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    k: int
    max_samples: int | None = Field(description="default per-vote sample cap (always within mcp_max_samples)")
    first_temperature: float
    temperature: float
    max_output_tokens: int
    concurrency: int
    target: float
    price_in: float | None
    price_out: float | None
    mcp_max_samples: int
    mcp_max_cost_usd: float
    caps_locked: bool = Field(description="caps and prices cannot be changed (the server's --lock-caps)")
    session_cap_usd: float | None = Field(description="dollars the whole session may spend (--max-session-cost)")
    session_spent_usd: float
    session_remaining_usd: float | None
    changed: list[str]
