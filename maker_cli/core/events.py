"""Typed events the engine emits; the display, the store and the metrics subscribe to them.

Events are cheap slotted dataclasses, only built when someone listens. `tallies` fields are
read-only views of the live race counts, not copies.

Which run (and workflow node) an event belongs to is not in the event: the job that drives the
engine says it in `SCOPE`, a context variable each job sets while it runs (`current_scope()`).
`maker_cli.jobs.event_log` writes every event as one JSON line (docs/events.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from maker_cli.core.engine import StepResult
    from maker_cli.core.redflags import RedFlag
    from maker_cli.providers.base import Completion


@dataclass(frozen=True, slots=True)
class SampleStarted:
    step: int
    n: int
    temperature: float


@dataclass(frozen=True, slots=True)
class SampleFinished:
    step: int
    completion: Completion
    key: str | None  # the canonical answer voted for, None when red-flagged
    red_flag: RedFlag | None
    sample: int = 0  # its number among the step's samples (1, 2, ...; calibration: among all samples)
    correct: bool | None = None  # calibration only: the answer matched the known one (None: not judged)
    confidence: float | None = None  # the sample's own confidence, when the method read it (cisc, early stop)


@dataclass(frozen=True, slots=True)
class Retried:
    step: int
    retries: int  # failed attempts retried before this call succeeded or finally failed


@dataclass(frozen=True, slots=True)
class CallFailed:
    step: int
    message: str
    retries: int = 0  # failed attempts retried before the call finally failed
    kind: str = "other"  # what failed: ProviderError.KINDS (timeout, connection, rate_limit, server, ...)


@dataclass(frozen=True, slots=True)
class RoundFinished:
    step: int
    round: int
    tallies: dict[str, int]
    leader: str | None
    margin: float  # in votes (weight or points for cisc and borda)
    k: int


@dataclass(frozen=True, slots=True)
class StepDecided:
    result: StepResult


@dataclass(frozen=True, slots=True)
class BranchDiscarded:
    """A speculative vote (`--speculate`) thrown away: it was started on an input that turned out
    not to be the decided one. Its samples were spent (and counted) but are no votes. `decided`:
    None when it was still voting, else how it had already ended (its StepDecided event, which
    then decided no step of the run)."""

    step: int
    samples: int
    cost_usd: float | None
    decided: bool | None


Event = SampleStarted | SampleFinished | Retried | CallFailed | RoundFinished | StepDecided | BranchDiscarded
Listener = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class JobStarted:
    """What a job says of itself as it starts, to the listeners that ask for it (`JobWatcher`, e.g.
    the metrics' progress gauges). Not an engine event: the event log does not write it.

    `steps_total`: the steps the job decides (None: not known ahead; a workflow: its voted steps; a
    calibration: the samples it asks for); `steps_done`: those done before (a resumed run)."""

    kind: str  # run, workflow, vote, calibration, decomposition
    steps_total: int | None
    steps_done: int = 0
    k: int | None = None
    model: str | None = None
    task: str | None = None


@runtime_checkable
class JobWatcher(Protocol):
    """A listener that also wants `JobStarted` when a job it listens to starts."""

    def __call__(self, event: Event) -> None: ...

    def job_started(self, job: JobStarted) -> None: ...


def announce(listeners: Iterable[Listener], job: JobStarted) -> None:
    """Tell the listeners that are JobWatchers that `job` starts (in its scope: `current_scope()`)."""
    for listener in listeners:
        if isinstance(listener, JobWatcher):
            listener.job_started(job)


@dataclass(frozen=True, slots=True)
class Scope:
    """What the engine's events are part of: the store's run (a vote or calibration: an id made
    for it, in no store) and, inside a workflow, the node (or the prompt a comparison samples)."""

    run_id: str | None = None
    node: str | None = None


SCOPE: ContextVar[Scope] = ContextVar("maker_event_scope", default=Scope())  # noqa: B039 - frozen


def current_scope() -> Scope:
    """The scope of the events emitted now (a listener may read it)."""
    return SCOPE.get()
