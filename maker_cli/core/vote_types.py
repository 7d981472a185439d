"""What a vote takes and gives back: its configuration (`VoteConfig`, `EarlyStop`), the result of a
step (`StepResult`, with each kept `SampleRecord`) and its running spend (`Usage`). The engine that
produces them is `maker_cli.core.engine`, which exports these names too."""

from __future__ import annotations

from dataclasses import dataclass, field

from maker_cli._types import AnswerValue
from maker_cli.core.maths import default_max_red_flags
from maker_cli.core.race import VotingMethod
from maker_cli.core.redflags import RedFlagRules
from maker_cli.core.status import EarlyStopReason, StepStatus, StopReason
from maker_cli.providers.base import Completion


@dataclass(frozen=True, slots=True)
class EarlyStop:
    """Early stopping (after RASC, arXiv:2408.17017), an option of every method: after a round, a step
    is decided for its leader once at least `min_votes` valid votes are in, the leader leads (by
    votes, or by weight or points for cisc and borda) and the mean confidence of the leader's
    samples is at least `min_confidence` (`maker_cli.core.sample_confidence`)."""

    min_votes: int
    min_confidence: float

    def __post_init__(self) -> None:
        if self.min_votes < 1:
            raise ValueError("early stop: min_votes must be at least 1")
        if not 0.0 < self.min_confidence <= 1.0:
            raise ValueError("early stop: min_confidence must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class VoteConfig:
    k: int = 3
    max_samples: int | None = None  # cap on samples drawn per step (red-flagged ones included)
    eager: int = 0  # extra samples per round: more cost, fewer rounds
    first_temperature: float = 0.0  # the step's very first sample
    temperature: float = 0.1  # every other sample
    rules: RedFlagRules = field(default_factory=RedFlagRules)
    max_call_errors: int = 8  # failed calls (after retries) tolerated per step
    # red-flagged samples after which a step ends undecided (a runaway guard for a model that never
    # answers in format). None: the default for k, maths.default_max_red_flags(k) - the one rule the
    # estimate prices; a job that knows its valid rate passes default_max_red_flags(k, v) itself.
    max_red_flags: int | None = None
    record_samples: bool = False  # keep raw samples in the result (for the store's sample log)
    # the first round as k separate calls (not one call with n = k - 1): its first valid answer is then
    # the fastest of k draws, which is what speculative pipelining starts the next step on
    split_first_round: bool = False
    method: VotingMethod = VotingMethod.AHEAD_BY_K
    early_stop: EarlyStop | None = None
    ranking_depth: int = 3  # borda: the candidates a sample's ranking scores (the first depth of them)
    _scores: bool = field(init=False, repr=False, compare=False)  # scores_samples, read for every sample

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("k must be at least 1")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        if self.max_red_flags is None:
            object.__setattr__(self, "max_red_flags", default_max_red_flags(self.k))
        elif self.max_red_flags < 1:
            raise ValueError("max_red_flags must be at least 1")
        if self.ranking_depth < 2:
            raise ValueError("ranking_depth must be at least 2")
        object.__setattr__(self, "_scores", self.method is VotingMethod.CISC or self.early_stop is not None)

    @property
    def scores_samples(self) -> bool:
        """True when each valid sample's confidence is read (and log-probabilities asked for): cisc
        weighs votes with it, early stopping averages it."""
        return self._scores


@dataclass(slots=True)
class SampleRecord:
    seq: int
    temperature: float
    text: str
    key: str | None
    red_flag: str | None
    input_tokens: int | None
    output_tokens: int | None
    finish_reason: str | None
    latency_s: float
    confidence: float | None = None  # the sample's own confidence, when the method read it


@dataclass(slots=True)
class StepResult:
    step: int
    status: StepStatus
    winner: str | None  # canonical key of the winning answer
    value: AnswerValue  # the parsed value of the winning answer (what the task uses)
    tallies: dict[str, int]
    samples: int  # completions received, red-flagged ones included
    valid: int  # votes
    red_flags: dict[str, int]  # reason -> count
    errors: int  # calls that failed after their retries (never votes, never red flags)
    retries: int
    rounds: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None when any sample's price was unknown
    wall_s: float
    records: list[SampleRecord] | None = None
    values: dict[str, AnswerValue] = field(default_factory=dict)  # key -> parsed value, per candidate
    stopped: StopReason | None = None  # why an undecided step stopped
    method: VotingMethod = VotingMethod.AHEAD_BY_K  # which method decided it
    stopped_early: bool = False  # stopped before the race ended on its own: early_stop_reason says why
    cached_tokens: int = 0  # the part of input_tokens the provider served from its prompt cache
    # with a matcher: each cluster's members and votes, by representative (the key shown everywhere)
    clusters: dict[str, dict[str, int]] | None = None
    match_calls: int = 0  # embedding calls made for this step (their tokens are in input_tokens)
    match_tokens: int = 0
    match_cost_usd: float | None = 0.0  # part of cost_usd; None when the embedding price is unknown
    early_stop_reason: EarlyStopReason | None = None  # loss_of_hope (undecided) or confident (decided)
    scores: dict[str, float] = field(default_factory=dict)  # cisc: summed weights; borda: points
    sample_confidence: float | None = None  # mean sample confidence of the winner (else the leader)
    confidence_source: str | None = None  # logprobs, heuristic or mixed: what the sample confidences came from

    @property
    def decided(self) -> bool:
        return self.status == StepStatus.DECIDED

    @property
    def red_flagged(self) -> int:
        return self.samples - self.valid


@dataclass(slots=True)
class Usage:
    """What a vote has spent so far, readable while it runs (and after it is cancelled): a
    speculative vote that is discarded is counted as waste from this."""

    samples: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    cached_tokens: int = 0  # the part of input_tokens served from the prompt cache

    def add(self, completion: Completion) -> None:
        self.samples += 1
        self.input_tokens += completion.input_tokens or 0
        self.cached_tokens += completion.cached_tokens or 0
        self.output_tokens += completion.output_tokens or 0
        if completion.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd += completion.cost_usd


__all__ = ["EarlyStop", "SampleRecord", "StepResult", "Usage", "VoteConfig"]
