"""What a task is to maker, and the registry of task kinds.

A task owns everything about its kind of work: the step prompt, the judge of responses, what the
simulated model answers, the probes calibration samples, the report fields of a run, and how to
re-create itself when a run resumes. Jobs (vote, run, calibrate) only call these methods; there is
no `if kind == ...` anywhere else. A new kind of task is one module with a class registered here.

- `Task`: every kind (a voted question, a free prompt, a sequence, Hanoi).
- `SequentialTask`: kinds that `maker run` drives step by step with state transfer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from maker_cli._types import AnswerValue, JSONObject, JSONValue, OptionValue, TaskAction, TaskState
from maker_cli.core.redflags import Answer
from maker_cli.core.step import Judge, StepPrompt
from maker_cli.errors import UsageError
from maker_cli.providers.base import Reference
from maker_cli.specs.prompt_file import PromptRecord

if TYPE_CHECKING:  # the one kind with a breakdown (CalibrationResult.hanoi); it imports this module
    from maker_cli.tasks.hanoi_task import HanoiBreakdown


@dataclass(frozen=True, slots=True)
class Probe:
    """One prompt calibration samples, with its correct answer's key (never shown to the model)."""

    item: int  # step index or dataset row; the simulated model's hard steps key on it
    system: str
    user: str
    expected_key: str
    reference: Reference | None = None
    group: str | None = None  # a breakdown group (Hanoi: "disk1" or "other")


@runtime_checkable
class Task(Protocol):
    """Every kind of task."""

    kind: ClassVar[str]
    name: str

    def judge(self) -> Judge:
        """Response text -> Answer (its key is what votes match on) or RedFlag. Never sees the truth."""
        ...

    def settings(self) -> dict[str, OptionValue]:
        """The task's own layer of the job settings (a spec's model, voting and red flags)."""
        ...

    def config(self) -> JSONObject:
        """What re-creates this task (stored with a run; `task_from_config` reads it back)."""
        ...

    def simulation_problem(self) -> str | None:
        """Why the simulated model cannot answer this task, or None."""
        ...

    def probes(self, count: int, *, seed: int | None, simulated: bool) -> list[Probe]:
        """`count` prompts with known answers for calibration (UsageError if the task has none)."""
        ...

    def classify(self, answer: Answer, probe: Probe) -> str | None:
        """None when a valid answer to `probe` is right, else the kind of error."""
        ...

    def breakdown(self, groups: Mapping[str, tuple[int, int]], errors: Mapping[str, int]) -> HanoiBreakdown | None:
        """The task's own breakdown of a calibration ((correct, valid) per probe group), or None."""
        ...

    def calibration_notes(self) -> list[str]:
        """What a calibration of this task should note about its probes."""
        ...

    def calibration_source(self) -> str:
        """What a calibration samples, in a few words ('hanoi, 10 disks', 'task x, 20 items')."""
        ...

    @property
    def calibration_size(self) -> int | None:
        """Probes in one pass over the task's labelled items (None: no natural size)."""
        ...

    @property
    def planning_steps(self) -> int:
        """Steps of the job to plan k for (a calibration's recommendation uses it)."""
        ...


@runtime_checkable
class SequentialTask(Task, Protocol):
    """A task `maker run` drives: state, step prompt, state transfer, verification, termination."""

    @property
    def steps_total(self) -> int | None:
        """Steps of the job; None when termination depends on the answers."""
        ...

    def start(self) -> tuple[TaskState, TaskAction]:
        """(initial state, previous action) — the previous action is None at the first step."""
        ...

    def prompt(self, step: int, state: TaskState, previous: TaskAction, *, simulated: bool) -> StepPrompt: ...

    def advance(self, value: AnswerValue) -> tuple[TaskAction, TaskState]:
        """(action, next state) from the winning answer's parsed value (state transfer)."""
        ...

    def verify(
        self, step: int, state: TaskState, action: TaskAction, next_state: TaskState, previous: TaskAction = None
    ) -> bool | None:
        """Whether a decided step is right for the state it was asked from (None: no verifier), given
        the action before it (`previous`, None at the first step). Never feeds the vote."""
        ...

    def finished(self, steps_done: int, state: TaskState, action: TaskAction) -> bool: ...

    def encode_state(self, state: TaskState) -> str:
        """A compact text form of a state for the store."""
        ...

    def encode_action(self, action: TaskAction) -> str: ...

    def decode_state(self, text: str) -> TaskState: ...

    def decode_action(self, text: str | None) -> TaskAction: ...

    def value_text(self, action: TaskAction, next_state: TaskState) -> str | None:
        """The decided value as stored beside its key (None when the key already holds it)."""
        ...

    def report_fields(self, final_state: TaskState) -> JSONObject:
        """Kind-specific fields of a run's report (e.g. disks; a spec's path and final state)."""
        ...


def key_classifier(answer: Answer, probe: Probe) -> str | None:
    """The usual classification: right when the answer's key is the expected key."""
    return None if answer.key == probe.expected_key else "wrong"


class TaskDefaults:
    """What most task kinds do the same way; a kind overrides what it does differently."""

    @property
    def calibration_size(self) -> int | None:
        return None

    def settings(self) -> dict[str, OptionValue]:
        return {}

    def classify(self, answer: Answer, probe: Probe) -> str | None:
        return key_classifier(answer, probe)

    def breakdown(self, groups: Mapping[str, tuple[int, int]], errors: Mapping[str, int]) -> HanoiBreakdown | None:
        return None

    def calibration_notes(self) -> list[str]:
        return []

    def prompt_record(self) -> PromptRecord | None:
        """Which prompt the task sends (name, sha256, source, the templates); None without templates.
        Not part of the Task protocol: read it with `prompt_record_of(task)`."""
        return None


def prompt_record_of(task: object) -> PromptRecord | None:
    """A task's prompt record, or None (a task object of the user's own may not have one)."""
    method = getattr(task, "prompt_record", None)
    record = method() if callable(method) else None
    return record if isinstance(record, dict) else None


# --- the registry -------------------------------------------------------------------------------

_KINDS: dict[str, Callable[[Mapping[str, JSONValue]], SequentialTask]] = {}
_ALIASES = {"task": "sequence"}  # runs stored before the registry called sequence specs "task"


def register(kind: str, from_config: Callable[[Mapping[str, JSONValue]], SequentialTask]) -> None:
    """Register how a stored task of `kind` is re-created (`maker_cli.tasks.task_from_config`)."""
    _KINDS[kind] = from_config


def task_factory(kind: str) -> Callable[[Mapping[str, JSONValue]], SequentialTask]:
    """The registered factory of a task kind; UsageError for an unknown kind."""
    factory = _KINDS.get(_ALIASES.get(kind, kind))
    if factory is None:
        raise UsageError(f"unknown task kind {kind!r} (known: {', '.join(_KINDS)})")
    return factory


def unchanged_file(config: Mapping[str, JSONValue], what: str) -> Path:
    """The spec file a stored run names, refusing (UsageError) when it is gone or changed since:
    resuming would mix two tasks."""
    import hashlib

    path = Path(str(config.get("spec", "")))
    if not path.is_file():
        raise UsageError(f"the {what} of this run, {path}, is gone; put it back to resume")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if config.get("sha256") and digest != config["sha256"]:
        raise UsageError(
            f"{path} changed since this run started (sha256 {str(config['sha256'])[:12]}…, now {digest[:12]}…); "
            "resuming would mix two tasks: restore the file, or start a new run"
        )
    return path
