"""What an estimate reports: one pydantic model per table, `EstimateReport` for the whole.

`EstimateReport.model_dump(mode="json")` is exactly what `maker estimate --json` prints, what
`maker_cli.estimate()` returns and what the MCP tool maker_estimate answers (its output schema).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from maker_cli._types import JSONObject


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class SweepRow(_Model):
    """The same job at another k: meets_target compares p_success (stops included) with the target."""

    k: int
    p_step: float
    p_full: float
    meets_target: bool
    expected_votes_per_step: float
    expected_samples_per_step: float
    expected_calls: float
    expected_cost_usd: float | None
    p_undecided_job: float | None = None
    p_success: float | None = None


class MRow(_Model):
    """The same job with m steps per agent (a vote is right with probability p^m)."""

    m: int
    p_vote: float
    agents: int
    converges: bool
    k_min: int | None
    expected_votes_per_step: float | None
    expected_calls: float | None
    relative_cost: float | None
    expected_cost_usd: float | None


class BudgetReport(_Model):
    budget_usd: float
    affordable: bool
    cost_at_k_min: float
    max_k_within_budget: int | None
    max_target_within_budget: float | None
    chosen_k_affordable: bool


class WorkflowNodeSteps(_Model):
    """One node of a workflow estimate."""

    id: str
    kind: str
    steps: int
    assumed: bool = False  # a sequence node whose length is not known before it runs


class WorkflowPart(_Model):
    """What `maker estimate --task workflow.yaml` adds: the nodes, the critical path, its wall time."""

    spec: str
    nodes: list[WorkflowNodeSteps]
    voted_steps: int
    critical_path: list[str]
    critical_path_steps: int
    critical_path_wall_s: float | None  # the wall time along the critical path (given --latency)


class EstimateReport(_Model):
    """The result of an estimate; `model_dump(mode="json")` is what `maker estimate --json` prints
    (and the MCP tool maker_estimate returns). Budget fields are null without a budget.

    p_full is P(every step correct) when every step is decided; p_success = P(every step decided
    and correct) folds in the stops (max_samples, max_red_flags), and meets_target compares it
    with the target."""

    steps: int
    m: int
    agents: int
    p: float
    p_vote: float
    target: float
    valid_rate: float
    k: int
    k_min: int
    meets_target: bool
    p_step: float
    p_full: float
    p_success: float
    expected_votes_per_step: float
    expected_votes_per_step_approx: float
    votes_per_step_sd: float
    expected_samples_per_step: float
    expected_calls: float
    calls_p50: float
    calls_p95: float
    calls_p99: float
    percentile_method: str
    model: str | None
    price_in: float | None
    price_out: float | None
    price_source: str | None
    input_tokens_per_call: float | None
    output_tokens_per_call: float | None
    cost_per_call_usd: float | None
    expected_input_tokens: float | None
    expected_output_tokens: float | None
    expected_cost_usd: float | None
    cached_share: float = 0.0  # the share of input tokens served from the prompt cache (priced at price_cached)
    price_cached: float | None = None  # USD per million cached input tokens; None: priced as input
    expected_cached_tokens: float | None = None
    cost_per_call_uncached_usd: float | None = None  # the same call with no prompt caching
    expected_cost_uncached_usd: float | None = None  # the job's expected cost with no prompt caching
    cost_p50_usd: float | None
    cost_p95_usd: float | None
    cost_p99_usd: float | None
    expected_rounds_per_step: float | None
    expected_waves_per_step: float | None
    latency_s: float | None
    latency_p95_s: float | None = None
    latency_sigma: float | None = None
    concurrency: int | None
    expected_wall_s: float | None
    speculate: int = 0
    expected_wall_speculative_s: float | None = None
    expected_waste_share: float | None = None
    max_samples: int | None
    max_red_flags: int
    max_red_flags_derived: bool
    p_undecided_per_step: float | None
    hope_saved_per_step: float | None = None
    p_undecided_job: float | None
    budget_usd: float | None = None
    affordable: bool | None = None
    cost_at_k_min: float | None = None
    max_k_within_budget: int | None = None
    max_target_within_budget: float | None = None
    chosen_k_affordable: bool | None = None
    calibration_file: str | None = None
    m_comparison: list[MRow]
    sweep: list[SweepRow] | None
    approximations: list[str]
    notes: list[str]
    warnings: list[str]
    workflow: WorkflowPart | None = None

    @property
    def budget(self) -> BudgetReport | None:
        """The budget fields as one object (None without a budget)."""
        if self.budget_usd is None:
            return None
        return BudgetReport.model_validate({name: getattr(self, name) for name in BudgetReport.model_fields})

    def to_dict(self) -> JSONObject:
        return self.model_dump(mode="json")
