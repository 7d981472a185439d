"""A run's stored configuration and its result: `maker run ... --json` is
`RunResult.model_dump(mode="json")`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.job import JobSettings
from maker_cli.core.adaptive import AdaptiveK
from maker_cli.core.confidence import needed_confidence
from maker_cli.core.engine import EarlyStop, VoteConfig
from maker_cli.core.maths import DEFAULT_TARGET, default_max_red_flags
from maker_cli.core.race import VotingMethod
from maker_cli.core.redflags import DEFAULT_PRESET, RedFlagChecks, RedFlagPreset, RedFlagRules
from maker_cli.core.status import RunStatus
from maker_cli.jobs.runner import LOG_CONTESTED, LOG_NONE, RunOptions
from maker_cli.secrets import redact
from maker_cli.workflows.report import NodeReport

LOG_MODES = ("all", "contested", "none")


class RunConfig(BaseModel):
    """Everything that defines a run's voting and spending; stored with the run for --resume."""

    model_config = ConfigDict(extra="ignore")  # runs stored by older versions may carry more keys

    model: str
    k: int
    max_samples: int | None = None
    max_red_flags: int | None = None  # as applied; None only in runs stored by older versions (the default)
    eager: int = 0
    method: VotingMethod = VotingMethod.AHEAD_BY_K
    early_stop_votes: int | None = None
    early_stop_confidence: float | None = None
    first_temperature: float = 0.0
    temperature: float = 0.1
    max_output_tokens: int | None = 750
    must_not_match: tuple[str, ...] = ()
    red_flags: RedFlagPreset = DEFAULT_PRESET  # runs stored before presets existed ran paper's rules
    red_flag_checks: RedFlagChecks | None = None
    api_base: str | None = None
    router_config: str | None = None
    prompt_cache: bool = False  # cache_control on the system message (--prompt-cache)
    timeout: float = 60.0
    max_attempts: int = 6
    price_in: float | None = None
    price_out: float | None = None
    concurrency: int = 16
    keep_going: bool = False
    speculate: int = 0  # steps ahead of the step being decided that may start on its leading candidate
    adaptive_k: bool = False  # --adaptive-k: k re-chosen before each step (maker_cli.core.adaptive)
    k_min_floor: int = 2  # --adaptive-k: the smallest k
    prior_p: float | None = None  # --adaptive-k: the measured p it starts from (--p, a calibration); None: uniform
    log_samples: str = LOG_CONTESTED
    max_cost: float | None = None
    k_source: str = "--k"
    p: float | None = None
    valid_rate: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    target: float | None = None

    @classmethod
    def of(cls, job: JobSettings, **extra: OptionValue) -> RunConfig:
        """A new run's configuration. A red-flag limit left to the default becomes the value the engine
        applies, maths.default_max_red_flags(k, valid_rate) (the estimate's rule), so the run stores and
        reports it (its source stays "default")."""
        config = cls(**{**job.model_dump(mode="json"), **extra})
        config.api_base = job.api_base  # the JSON form hides a URL's credentials; the run needs them
        if config.max_red_flags is None:
            config.max_red_flags = default_max_red_flags(config.k, config.valid_rate)
        return config

    @field_serializer("api_base", when_used="json")
    def _api_base_out(self, value: str | None) -> str | None:
        """A URL's user:password (or a key in its query) never reaches --json or the run store: a
        resumed run whose URL had them is given it again (`jobs.run_plan`)."""
        return None if value is None else redact(value)

    def vote_config(self) -> VoteConfig:
        return VoteConfig(
            k=self.k,
            max_samples=self.max_samples,
            eager=self.eager,
            method=self.method,
            early_stop=EarlyStop(self.early_stop_votes, self.early_stop_confidence)
            if self.early_stop_votes is not None and self.early_stop_confidence is not None
            else None,
            first_temperature=self.first_temperature,
            temperature=self.temperature,
            rules=self.rules(),
            record_samples=self.log_samples != LOG_NONE,
            max_red_flags=self.max_red_flags
            if self.max_red_flags is not None
            else default_max_red_flags(self.k, self.valid_rate),
        )

    def rules(self) -> RedFlagRules:
        """The red-flag rules every sample passes: the preset, the spec's own checks on top."""
        return RedFlagRules.preset(
            self.red_flags,
            max_output_tokens=self.max_output_tokens,
            must_not_match=self.must_not_match,
            checks=self.red_flag_checks,
        )

    def options(self, steps: int) -> RunOptions:
        """The runner's options for a job of `steps` steps (what each step's confidence needs)."""
        return RunOptions(
            keep_going=self.keep_going,
            max_cost=self.max_cost,
            log_samples=self.log_samples,
            speculate=self.speculate,
            confidence_p=self.p,
            confidence_needed=self.confidence_needed(steps),
        )

    def confidence_needed(self, steps: int) -> float | None:
        """The confidence each of `steps` steps needs for the target (None without p: no confidence)."""
        if self.p is None or self.adaptive_k:  # adaptive k: each step's own, from the plan (core.adaptive)
            return None
        return needed_confidence(self.target or DEFAULT_TARGET, max(1, steps))


class FailedStep(BaseModel):
    """The first wrong step of a run, for display."""

    step: int
    state: str
    decided_action: str
    decided_state: str
    tallies: dict[str, int]


class SpeculativeWaste(BaseModel):
    """Samples drawn by speculative branches whose input was not the decided state: never votes."""

    branches: int = Field(description="branches discarded")
    samples: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    share_of_samples: float | None = Field(description="wasted samples / all samples")


class AdaptiveReport(BaseModel):
    """--adaptive-k at the end of a run (maker_cli.core.adaptive)."""

    p_hat: float | None = Field(description="the maximum-likelihood p from the run's own votes (no ground truth)")
    p_low: float | None = Field(description="its lower bound at `level` (the posterior quantile) k was chosen from")
    level: float = Field(description="the bound's level: half the job's failure budget, (1 - target) / 2")
    k_last: int = Field(description="the k of the last step")
    k_min: int | None = Field(description="the smallest k a step was voted with")
    k_max: int | None = Field(description="the largest k a step was voted with")
    steps_by_k: dict[str, int] = Field(description="steps voted with each k")
    floor: int
    prior_p: float | None = Field(description="the measured p it started from; null: a uniform prior on (0.5, 1)")
    planned_success: float | None = Field(
        description="P(every done step right) at p_low: at least 1 - (1 - target) / 2 when the plan held"
    )

    @classmethod
    def of(cls, a: AdaptiveK) -> AdaptiveReport:
        ks = sorted(a.ks)
        return cls(
            p_hat=a.p_hat,
            p_low=a.p_low,
            level=a.level,
            k_last=a.k,
            k_min=ks[0] if ks else None,
            k_max=ks[-1] if ks else None,
            steps_by_k={str(k): a.ks[k] for k in ks},
            floor=a.floor,
            prior_p=a.prior_p,
            planned_success=a.planned_success(),
        )


class RunResult(BaseModel):
    """How a run ended and what it cost. Kind-specific fields are null where they do not apply."""

    run_id: str
    status: RunStatus
    task: str
    kind: str
    model: str
    simulated: bool
    k: int
    steps_total: int | None
    steps_done: int
    errors: int = Field(description="wrong decided steps (verified against the reference)")
    first_error_step: int | None
    samples: int
    valid: int
    red_flagged: int
    red_flag_reasons: dict[str, int]
    call_errors: int = Field(description="calls that failed after their retries (never votes)")
    retries: int
    rounds: int
    votes_per_step: float | None
    max_votes: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int = Field(0, description="the part of input_tokens the provider served from its prompt cache")
    cost_usd: float | None
    wall_s: float
    resumed: bool
    disks: int | None = Field(None, description="hanoi: the number of disks")
    spec: str | None = Field(None, description="a spec's path")
    final_state: JSONValue = Field(None, description="a spec's state when the run stopped")
    failed_step: FailedStep | None = None
    error: str | None = Field(None, description="the error that ended the run (status error)")
    message: str | None = Field(None, description="why the run stopped, in one line")
    settings: RunConfig | None = None
    settings_sources: dict[str, str] | None = None
    nodes: list[NodeReport] | None = Field(None, description="a workflow: every node's status, result and cost")
    result: JSONValue = Field(None, description="a workflow: the composed result (null until every node is decided)")
    speculative_waste: SpeculativeWaste | None = Field(
        None, description="--speculate: what branches on a wrong candidate drew (counted in the totals too)"
    )
    voted_steps: int | None = Field(
        None, description="a workflow: its voted steps (nodes, sequence steps, llm composition)"
    )
    min_confidence: float | None = Field(
        None,
        description="the lowest confidence of a decided step (P(its winner is right), worst case; null without p)",
    )
    mean_confidence: float | None = Field(None, description="the mean confidence of the decided steps (null without p)")
    low_confidence_steps: int = Field(
        0,
        description="decided steps whose confidence is below confidence_needed (decided on a smaller margin than "
        "the target needs)",
    )
    confidence_needed: float | None = Field(
        None,
        description="the confidence each step needs for P(all steps right) >= target: target ** (1 / steps) "
        "(null without p, and with adaptive k, where each step's is its own)",
    )
    early_stopped_steps: int = Field(
        0, description="steps decided by early stopping (a confident leader short of its margin of k)"
    )
    adaptive: AdaptiveReport | None = Field(None, description="--adaptive-k: the estimate of p and the k chosen")
