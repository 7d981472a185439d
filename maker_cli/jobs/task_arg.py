"""What jobs accept as a task: 'hanoi', a spec path, a loaded spec, or a task object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from maker_cli._types import JSONValue
from maker_cli.errors import UsageError
from maker_cli.specs import QuestionSpec, SequenceSpec, load_spec
from maker_cli.tasks import DatasetItem, Hanoi, Task, TaskOptions, load_dataset, task_for_spec

TaskArg = str | Path | QuestionSpec | SequenceSpec | Task


def resolve_task(
    task: TaskArg,
    *,
    disks: int = 10,
    inputs: Mapping[str, JSONValue] | None = None,
    steps: int | None = None,
    dataset: str | Path | Sequence[DatasetItem] | None = None,
    trust_code: bool = False,
) -> Task:
    """The task object `task` names: 'hanoi' (with `disks`), a spec file or spec, or a task as is."""
    if isinstance(task, str) and task == "hanoi":
        if inputs or dataset is not None:
            raise UsageError("Hanoi takes no inputs and no dataset (give --disks)")
        return Hanoi(disks)
    if isinstance(task, (str, Path)):
        task = load_spec(task)
    if isinstance(task, (QuestionSpec, SequenceSpec)):
        items: Sequence[DatasetItem] | None = None
        if isinstance(dataset, (str, Path)):
            items = load_dataset(dataset, task.inputs)
        elif dataset is not None:
            items = list(dataset)
        return task_for_spec(
            task, TaskOptions(inputs=dict(inputs or {}), steps=steps, trust_code=trust_code, dataset=items)
        )
    if inputs or dataset is not None or steps is not None:
        raise UsageError("inputs, a dataset or steps go with a spec, not with a task object")
    return task
