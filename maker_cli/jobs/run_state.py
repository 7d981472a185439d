"""A sequential run's state: its running totals, where it stands, how it ended, and what the store
keeps so `--resume` carries on (the resume point and the totals of a stored run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from maker_cli._types import JSONObject, TaskAction, TaskState
from maker_cli.core.confidence import short_of
from maker_cli.core.engine import StepResult, Usage
from maker_cli.core.status import EarlyStopReason, RunStatus
from maker_cli.store.rows import RunRecord
from maker_cli.tasks.base import SequentialTask


@dataclass
class RunTotals:
    """Running totals of a job; carried over on resume."""

    steps_done: int = 0
    samples: int = 0
    valid: int = 0
    red_flagged: int = 0
    errors: int = 0
    retries: int = 0
    rounds: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # the part of input_tokens served from the provider's prompt cache
    cost_usd: float | None = 0.0
    wrong_steps: int = 0
    first_error_step: int | None = None
    max_votes: int = 0
    contested_steps: int = 0
    red_flag_reasons: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    # speculative waste: samples drawn on branches whose input turned out not to be the decided
    # state (`--speculate`); never votes, but spent, so counted in the totals above too
    wasted_samples: int = 0
    wasted_input_tokens: int = 0
    wasted_output_tokens: int = 0
    wasted_cost_usd: float | None = 0.0
    wasted_branches: int = 0
    # the decisions' confidence (`maker_cli.core.confidence`) over the decided steps that have one (a
    # run with p): how many, the lowest, how many short of what each step needs for the job's target
    # (`confidence_needed`, core.confidence.needed_confidence), and the sum of 1 - confidence
    confident_steps: int = 0
    min_confidence: float | None = None
    low_confidence_steps: int = 0
    doubt_sum: float = 0.0
    confidence_needed: float | None = None  # target ** (1 / steps); None: low steps are not counted
    early_stopped_steps: int = 0  # decided by early stopping (a confident leader short of its margin)
    # --adaptive-k: the k the last step was voted with and the run's estimate of p (for displays)
    adaptive_k: int | None = None
    adaptive_p_hat: float | None = None

    def confide(self, confidence: float | None, needed: float | None = None) -> None:
        """Count one decided step's confidence (None: the run has no p), short of `needed` (default: the
        run's `confidence_needed`; an adaptive run gives each step's own)."""
        if confidence is None:
            return
        needed = self.confidence_needed if needed is None else needed
        self.confident_steps += 1
        self.doubt_sum += 1.0 - confidence
        if self.min_confidence is None or confidence < self.min_confidence:
            self.min_confidence = confidence
        if needed is not None and short_of(confidence, needed):
            self.low_confidence_steps += 1

    @property
    def mean_confidence(self) -> float | None:
        """The mean confidence of the steps that have one (None when none has)."""
        if not self.confident_steps:
            return None
        return 1.0 - self.doubt_sum / self.confident_steps

    def waste(self, usage: Usage) -> None:
        """Count a discarded speculative branch: in the totals and as waste."""
        self.wasted_branches += 1
        self.wasted_samples += usage.samples
        self.wasted_input_tokens += usage.input_tokens
        self.wasted_output_tokens += usage.output_tokens
        if not usage.cost_known or self.wasted_cost_usd is None:
            self.wasted_cost_usd = None
        else:
            self.wasted_cost_usd += usage.cost_usd
        self.spend(usage)

    def spend(self, usage: Usage) -> None:
        """Count samples that decided nothing (a vote cut short): spent, in the totals."""
        self.samples += usage.samples
        self.input_tokens += usage.input_tokens
        self.cached_tokens += usage.cached_tokens
        self.output_tokens += usage.output_tokens
        if not usage.cost_known or self.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += usage.cost_usd

    def add(self, r: StepResult, correct: bool | None, *, done: bool = True) -> None:
        self.steps_done += int(done)
        self.samples += r.samples
        self.valid += r.valid
        self.red_flagged += r.samples - r.valid
        self.errors += r.errors
        self.retries += r.retries
        self.rounds += r.rounds
        self.input_tokens += r.input_tokens
        self.output_tokens += r.output_tokens
        self.cached_tokens += r.cached_tokens
        if r.cost_usd is None or self.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += r.cost_usd
        if r.valid > self.max_votes:
            self.max_votes = r.valid
        if r.rounds > 1:
            self.contested_steps += 1
        if r.early_stop_reason == EarlyStopReason.CONFIDENT:
            self.early_stopped_steps += 1
        for reason, n in r.red_flags.items():
            self.red_flag_reasons[reason] = self.red_flag_reasons.get(reason, 0) + n
        if correct is False:
            self.wrong_steps += 1
            if self.first_error_step is None:
                self.first_error_step = r.step


@dataclass
class RunPoint:
    """Where a run stands: the next step index, its input state and the previous action."""

    step: int
    state: TaskState
    previous: TaskAction


class FailedStepFields(TypedDict):
    """The first wrong step of a run (`maker_cli.jobs.run_result.FailedStep`'s fields)."""

    step: int
    state: str
    decided_action: str
    decided_state: str
    tallies: dict[str, int]


@dataclass
class RunOutcome:
    status: RunStatus
    totals: RunTotals
    point: RunPoint
    failed_step: FailedStepFields | None = None  # the first wrong step, for display


def resume_point(
    task: SequentialTask, point: RunPoint, totals: RunTotals, adaptive: JSONObject | None = None
) -> JSONObject:
    """What the store keeps to resume: next step, its input state, the previous action, extras
    (`adaptive`: the --adaptive-k state, `AdaptiveK.state()`)."""
    return {
        **({"adaptive": adaptive} if adaptive is not None else {}),
        "step": point.step,
        "state": task.encode_state(point.state),
        "previous": task.encode_action(point.previous) if point.previous is not None else None,
        "max_votes": totals.max_votes,
        "contested_steps": totals.contested_steps,
        **confidence_state(totals),
        "waste": {
            "branches": totals.wasted_branches,
            "samples": totals.wasted_samples,
            "input_tokens": totals.wasted_input_tokens,
            "output_tokens": totals.wasted_output_tokens,
            "cost_usd": totals.wasted_cost_usd,
        },
    }


def confidence_state(totals: RunTotals) -> JSONObject:
    """The running confidence summary a resumed run carries on from (stored in the resume point)."""
    return {
        "confidence": {
            "steps": totals.confident_steps,
            "min": totals.min_confidence,
            "low": totals.low_confidence_steps,
            "doubt_sum": totals.doubt_sum,
            "needed": totals.confidence_needed,
            "early_stopped": totals.early_stopped_steps,
        }
    }


def restore(task: SequentialTask, record: RunRecord) -> tuple[RunPoint, RunTotals]:
    """The resume point and totals of a stored run."""
    saved = record.last_state or {}
    if "step" not in saved:
        state, previous = task.start()
        point = RunPoint(0, state, previous)
    else:
        point = RunPoint(saved["step"], task.decode_state(saved["state"]), task.decode_action(saved.get("previous")))
    return point, stored_totals(record)


def stored_totals(record: RunRecord) -> RunTotals:
    """A stored run's totals (what a resumed run carries on from)."""
    saved = record.last_state if isinstance(record.last_state, dict) else {}
    found = saved.get("waste")
    waste: JSONObject = found if isinstance(found, dict) else {}
    found = saved.get("confidence")
    confidence: JSONObject = found if isinstance(found, dict) else {}  # none in runs stored before 0.2
    lowest = confidence.get("min")
    needed = confidence.get("needed")
    return RunTotals(
        steps_done=record.steps_done,
        samples=record.samples,
        valid=record.valid,
        red_flagged=record.red_flagged,
        errors=record.errors,
        retries=record.retries,
        rounds=record.rounds,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cached_tokens=record.cached_tokens,
        cost_usd=record.cost_usd,
        wrong_steps=record.wrong_steps,
        first_error_step=record.first_error_step,
        max_votes=saved.get("max_votes", 0),
        contested_steps=saved.get("contested_steps", 0),
        red_flag_reasons=dict(record.red_flag_reasons or {}),
        wall_s=record.wall_s,
        wasted_branches=int(waste.get("branches", 0)),
        wasted_samples=int(waste.get("samples", 0)),
        wasted_input_tokens=int(waste.get("input_tokens", 0)),
        wasted_output_tokens=int(waste.get("output_tokens", 0)),
        wasted_cost_usd=waste.get("cost_usd", 0.0),
        confident_steps=int(confidence.get("steps", 0)),
        min_confidence=float(lowest) if isinstance(lowest, (int, float)) else None,
        low_confidence_steps=int(confidence.get("low", 0)),
        doubt_sum=float(confidence.get("doubt_sum", 0.0)),
        confidence_needed=float(needed) if isinstance(needed, (int, float)) else None,
        early_stopped_steps=int(confidence.get("early_stopped", 0)),
    )
