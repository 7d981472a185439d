"""What jobs accept as a task: 'hanoi', a spec path, a loaded spec, or a task object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from maker_cli._types import JSONValue
from maker_cli.errors import UsageError
from maker_cli.specs import QuestionSpec, SequenceSpec, WorkflowSpec, load_spec
from maker_cli.specs.prompt_file import spec_with_prompt
from maker_cli.tasks import DatasetItem, Hanoi, Task, TaskOptions, load_dataset, task_for_spec
from maker_cli.tasks.hanoi_prompt import HanoiPrompt, PromptArg
from maker_cli.workflows.task import WorkflowTask

TaskArg = str | Path | QuestionSpec | SequenceSpec | WorkflowSpec | Task


def resolve_task(
    task: TaskArg,
    *,
    disks: int = 10,
    inputs: Mapping[str, JSONValue] | None = None,
    steps: int | None = None,
    dataset: str | Path | Sequence[DatasetItem] | None = None,
    trust_code: bool = False,
    prompt: PromptArg = None,
    steps_of: Mapping[str, int] | None = None,
) -> Task | WorkflowTask:
    """The task object `task` names: 'hanoi' (with `disks`), a spec file or spec, or a task as is.

    `prompt` (a prompt file's path) replaces Hanoi's built-in prompt or a spec's system/user."""
    if isinstance(task, str) and task == "hanoi":
        if inputs or dataset is not None:
            raise UsageError("Hanoi takes no inputs and no dataset (give --disks)")
        return Hanoi(disks, prompt=prompt)
    if isinstance(task, (str, Path)):
        task = load_spec(task)
    if isinstance(task, WorkflowSpec):
        if prompt is not None or dataset is not None or steps is not None:
            raise UsageError(
                "a workflow takes --input and --steps-of; a prompt file, a dataset or --steps go with its nodes' specs"
            )
        return WorkflowTask(task, inputs, trust_code=trust_code, steps_of=steps_of)
    if isinstance(task, (QuestionSpec, SequenceSpec)):
        if prompt is not None:
            if isinstance(prompt, HanoiPrompt):
                raise UsageError("a HanoiPrompt goes with Hanoi; for a spec give a prompt file")
            task = spec_with_prompt(task, prompt)
        items: Sequence[DatasetItem] | None = None
        if isinstance(dataset, (str, Path)):
            items = load_dataset(dataset, task.inputs)
        elif dataset is not None:
            items = list(dataset)
        return task_for_spec(
            task, TaskOptions(inputs=dict(inputs or {}), steps=steps, trust_code=trust_code, dataset=items)
        )
    if inputs or dataset is not None or steps is not None or prompt is not None:
        raise UsageError("inputs, a dataset, steps or a prompt go with a spec or 'hanoi', not with a task object")
    return task
