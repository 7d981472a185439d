"""Task kinds: Hanoi, question specs, sequence specs and free prompts, behind one protocol.

`task_for_spec` turns a loaded spec into its task, `task_from_config` re-creates the task of a stored
run; both look the kind up in the registry (`maker_cli.tasks.base.register`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from maker_cli._types import JSONValue
from maker_cli.specs import QuestionSpec, SequenceSpec
from maker_cli.tasks.base import Probe, SequentialTask, Task, key_classifier, register, task_factory
from maker_cli.tasks.hanoi_task import Hanoi
from maker_cli.tasks.question import DatasetItem, PromptTask, QuestionTask, load_dataset
from maker_cli.tasks.sequence import SequenceTask


@dataclass(frozen=True)
class TaskOptions:
    """What a spec needs besides itself to become a task."""

    inputs: Mapping[str, JSONValue] = field(default_factory=dict)
    steps: int | None = None  # sequence specs with a fixed number of steps: override it
    trust_code: bool = False  # sequence specs: may `reference: FILE.py:function` run?
    dataset: Sequence[DatasetItem] | None = None  # question specs: labelled items for calibration


def task_for_spec(spec: QuestionSpec | SequenceSpec, options: TaskOptions | None = None) -> QuestionTask | SequenceTask:
    """The task a loaded spec describes."""
    options = options or TaskOptions()
    if isinstance(spec, QuestionSpec):
        return QuestionTask.from_spec(spec, options)
    return SequenceTask.from_spec(spec, options)


def task_from_config(config: Mapping[str, JSONValue]) -> SequentialTask:
    """Re-create the task of a stored run (for --resume)."""
    return task_factory(str(config.get("kind")))(config)


__all__ = [
    "DatasetItem",
    "Hanoi",
    "Probe",
    "PromptTask",
    "QuestionTask",
    "SequenceTask",
    "SequentialTask",
    "Task",
    "TaskOptions",
    "key_classifier",
    "load_dataset",
    "register",
    "task_for_spec",
    "task_from_config",
]
