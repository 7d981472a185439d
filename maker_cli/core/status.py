"""The statuses of a step and of a run: one enum each, used by the engine, the store and reports."""

from __future__ import annotations

from enum import StrEnum


class StepStatus(StrEnum):
    DECIDED = "decided"
    UNDECIDED = "undecided"


class StopReason(StrEnum):
    """Why an undecided step stopped."""

    SAMPLE_CAP = "sample_cap"  # max_samples reached
    RED_FLAGS = "red_flags"  # max_red_flags reached: the model keeps failing the format or length
    BUDGET = "budget"  # the step's spend limit was reached


class EarlyStopReason(StrEnum):
    """Why a step stopped before its race would have ended on its own (`stopped_early`)."""

    LOSS_OF_HOPE = "loss_of_hope"  # undecided: no answer could win within the sample cap
    CONFIDENT = "confident"  # decided by early stopping: enough votes, a leader with confident samples


class RunStatus(StrEnum):
    RUNNING = "running"
    SOLVED = "solved"  # every step decided (and, where verified, right)
    FAILED = "failed"  # a decided step was wrong
    UNDECIDED = "undecided"  # a step ended undecided (sample cap, red flags)
    BUDGET_EXHAUSTED = "budget_exhausted"  # the run's --max-cost was reached (resumable)
    INTERRUPTED = "interrupted"  # Ctrl-C or a signal (resumable)
    ERROR = "error"  # a provider or task error (resumable once fixed)

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SOLVED, RunStatus.FAILED)
