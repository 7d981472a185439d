"""Task kinds behind one protocol and one registry: no `kind ==` switches anywhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maker_cli.cli.output import EXIT_CODES
from maker_cli.core.status import RunStatus
from maker_cli.errors import UsageError
from maker_cli.specs import load_spec
from maker_cli.store.run_store import RUN_STATUSES
from maker_cli.tasks import (
    Hanoi,
    PromptTask,
    QuestionTask,
    SequenceTask,
    SequentialTask,
    Task,
    task_for_spec,
    task_from_config,
)

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "maker_cli"


def test_every_kind_implements_the_protocol():
    addition = load_spec(ROOT / "examples" / "sequential" / "addition.yaml")
    question = load_spec(ROOT / "examples" / "arithmetic.yaml")
    for task in (Hanoi(3), task_for_spec(addition)):
        assert isinstance(task, SequentialTask) and isinstance(task, Task)
    for task in (task_for_spec(question), PromptTask("q?")):
        assert isinstance(task, Task) and not isinstance(task, SequentialTask)
    assert isinstance(task_for_spec(addition), SequenceTask) and isinstance(task_for_spec(question), QuestionTask)


def test_stored_tasks_are_recreated_through_the_registry():
    assert task_from_config({"kind": "hanoi", "disks": 4}).steps_total == 15
    config = task_for_spec(load_spec(ROOT / "examples" / "sequential" / "addition.yaml")).config()
    assert task_from_config(config).name == "long-addition"
    assert task_from_config({**config, "kind": "task"}).name == "long-addition"  # runs stored before 0.2
    with pytest.raises(UsageError, match="unknown task kind 'bogus'"):
        task_from_config({"kind": "bogus"})


def test_one_status_enum():
    assert tuple(RunStatus) == RUN_STATUSES
    assert set(EXIT_CODES) == {s.value for s in RunStatus} - {"running"}


def test_no_kind_switches_outside_the_task_registry():
    """Kinds are looked up, never compared, outside maker_cli/tasks (the registry's home)."""
    kinds = "hanoi|task|sequence|question|prompt|workflow"
    switch = re.compile(
        rf"""kind\s*(==|!=)\s*["']({kinds})["']|kind\s+(not\s+)?in\s*[(\[{{][^)\]}}]*["']({kinds})["']"""
    )
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "tasks"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if switch.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
