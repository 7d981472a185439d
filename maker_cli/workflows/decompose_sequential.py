"""The sequential strategy: a task's own steps as a chain of questions, without a model.

Numbered lines (`1.`, `2)`) or bulleted lines (`-`, `*`, `•`) are the steps; a line that is neither,
after a step, continues it; the lines before the first step are the task's preamble, repeated in
every step's question. A task without such lines is split into sentences (after `.`, `!` or `?`).
Each step depends on the one before it and its question shows that step's result
(`{{nodes.PREV.answer}}`); the workflow's result is the last step's (`last_only`). One step alone
is a single question.
"""

from __future__ import annotations

import re

from maker_cli.errors import UsageError
from maker_cli.specs.workflow import MAX_NODES
from maker_cli.workflows.decompose_proposal import Compose, Question, collapse, has_braces
from maker_cli.workflows.decompose_tree import TreeNode

_ITEM = re.compile(r"^\s*(?:\d{1,6}[.)]|[-*•])\s+(?P<text>\S.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
ANSWER_FORMAT = "a short answer"


def sequential_steps(task: str) -> tuple[str, list[str]]:
    """(the preamble, the steps) of a task: its list items, else its sentences."""
    preamble: list[str] = []
    items: list[list[str]] = []
    for line in task.splitlines():
        match = _ITEM.match(line)
        if match is not None:
            items.append([match.group("text")])
        elif items:
            if line.strip():
                items[-1].append(line)
        else:
            preamble.append(line)
    if items:
        return collapse(" ".join(preamble)), [collapse(" ".join(item)) for item in items]
    sentences = [collapse(s) for s in _SENTENCE_END.split(collapse(task))]
    return "", [s for s in sentences if s]


def sequential_tree(task: str) -> TreeNode:
    """The chain of steps as a decomposition tree (no decisions)."""
    if has_braces(task):
        raise UsageError("the task holds {{ or }}: its steps become workflow templates, which these would break")
    preamble, steps = sequential_steps(task)
    if not steps:
        raise UsageError("the task has no steps: give some text")
    if len(steps) > MAX_NODES:
        raise UsageError(f"the task has {len(steps):,} steps, over the limit of {MAX_NODES:,} workflow nodes")
    if len(steps) == 1:
        question = Question(user=steps[0], answer_format=ANSWER_FORMAT)
        return TreeNode(
            id="root", path="root", task=collapse(task), depth=0, shape="question", why="sequential", question=question
        )
    children = []
    for i, step in enumerate(steps, 1):
        user = f"Step {i} of {len(steps)}: {step}"
        if preamble:
            user = f"{preamble}\n\n{user}"
        children.append(
            TreeNode(
                id=f"s{i}",
                path=f"root > s{i}",
                task=step,
                depth=1,
                shape="question",
                why="sequential",
                depends_on=[f"s{i - 1}"] if i > 1 else [],
                question=Question(user=user, answer_format=ANSWER_FORMAT),
            )
        )
    return TreeNode(
        id="root",
        path="root",
        task=collapse(task),
        depth=0,
        shape="split",
        why="sequential",
        compose=Compose(function="last_only"),
        children=children,
    )
