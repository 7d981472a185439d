"""One decomposition decision: the prompt, the proposal format, and the judge that votes on it.

For a task the decomposer model answers strict JSON, either

    {"minimal": true, "question": {"user": "...", "answer_format": "..."}}

(one action a small model can do in one short answer) or

    {"minimal": false,
     "subtasks": [{"id": "a", "task": "...", "depends_on": []}, ...],
     "compose": {"function": "reduce", "operation": "sum"}}

with 2 to `max_subtasks` subtasks. `ProposalJudge` reads one response: the whole response as JSON,
or the single ```json fenced block in it (the rule of every JSON answer in maker), nothing else.
A malformed proposal is red-flagged (`RedFlag(FORMAT, detail)`), never repaired: over
`MAX_PROPOSAL_CHARS` characters, not JSON, a wrong shape (a missing, unknown or mistyped field, an
empty text), a compose function that is unknown or cannot combine several results (`identity`,
`llm`), an operation or separator that does not fit the function, duplicate subtask ids, a
dependency on an unknown id (or twice on the same one, or on itself), a cycle, fewer than 2 or more
than `max_subtasks` subtasks, or a text holding `{{` or `}}` (the texts become workflow templates).

A valid proposal votes under its canonical key: the subtasks' ids renamed in order of appearance
(s1, s2, ...), whitespace in every text collapsed, each `depends_on` in subtask order, keys sorted,
compact JSON. So two proposals that differ only in their ids, spacing or key order vote together.
The subtasks' order is kept: it is the order their results are composed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from maker_cli._types import JSONObject, JSONValue
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.specs.extract import parse_json_response
from maker_cli.specs.workflow import topological_order
from maker_cli.workflows.compose import REDUCE_OPERATIONS, check_compose

MAX_PROPOSAL_CHARS = 20_000
"""A response longer than this is red-flagged unread."""
MAX_SUBTASK_ID_CHARS = 64
MAX_SEPARATOR_CHARS = 100
#: the compose functions a split may choose: each combines the results of several subtasks
SPLIT_FUNCTIONS: tuple[str, ...] = ("concatenate", "sequence", "object_merge", "last_only", "reduce")
CONTEXT_CHARS = 300  # how much of each enclosing task a decision prompt shows

_WHITESPACE = re.compile(r"\s+")


def collapse(text: str) -> str:
    """Every run of whitespace as one space, ends stripped."""
    return _WHITESPACE.sub(" ", text).strip()


def has_braces(text: str) -> bool:
    """True when `text` holds `{{` or `}}` (it would be read as a template placeholder)."""
    return "{{" in text or "}}" in text


# --------------------------------------------------------------------------- the proposals


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(Frozen):
    """What a minimal task asks: the question, and what its answer looks like."""

    user: str = Field(description="the question, self-contained")
    answer_format: str = Field(description="what the answer looks like, e.g. 'an integer'")


class Compose(Frozen):
    """How a split's subtask results combine (the functions of `maker_cli.workflows.compose`)."""

    function: str = Field(description="concatenate, sequence, object_merge, last_only or reduce")
    operation: str | None = Field(None, description="reduce only: sum, multiply, max, min, and, or, concat")
    separator: str | None = Field(None, description="concatenate only (default a newline)")

    def label(self) -> str:
        if self.function == "reduce":
            return f"reduce {self.operation}"
        if self.function == "concatenate" and self.separator is not None:
            return f"concatenate (separator {json.dumps(self.separator)})"
        return self.function


class Subtask(Frozen):
    id: str = Field(description="s1, s2, ... in order of appearance (canonical)")
    task: str
    depends_on: list[str] = Field(default_factory=list, description="ids of sibling subtasks, in subtask order")


class Proposal(Frozen):
    """A canonical proposal: minimal with a question, or a split into subtasks with a composition."""

    minimal: bool
    question: Question | None = None
    subtasks: list[Subtask] = Field(default_factory=list)
    compose: Compose | None = None

    def key(self) -> str:
        """The canonical JSON votes match on (keys sorted, compact, ids and whitespace canonical)."""
        return json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def as_json(self) -> JSONObject:
        if self.minimal:
            assert self.question is not None
            return {"minimal": True, "question": self.question.model_dump()}
        assert self.compose is not None
        return {
            "minimal": False,
            "subtasks": [s.model_dump() for s in self.subtasks],
            "compose": self.compose.model_dump(exclude_none=True),
        }

    def summary(self) -> str:
        if self.minimal:
            return "minimal: one question"
        assert self.compose is not None
        return f"split into {len(self.subtasks)} subtasks, composed by {self.compose.label()}"


# --------------------------------------------------------------------------- the judge


class _Bad(Exception):
    """A proposal that does not fit the format (the message is the red flag's detail)."""


class ProposalJudge:
    """Parse, check and canonicalise one decomposer response (never raises on any text)."""

    def __init__(self, max_subtasks: int) -> None:
        self.max_subtasks = max_subtasks

    def __call__(self, text: str) -> Answer | RedFlag:
        if len(text) > MAX_PROPOSAL_CHARS:
            return RedFlag(FORMAT, f"over {MAX_PROPOSAL_CHARS:,} characters")
        parsed = parse_json_response(text.strip())
        if isinstance(parsed, RedFlag):
            return parsed
        try:
            proposal = self.proposal(parsed)
        except _Bad as exc:
            return RedFlag(FORMAT, str(exc))
        return Answer(proposal.key(), proposal)

    def proposal(self, data: JSONValue) -> Proposal:
        """The canonical proposal `data` stands for; _Bad naming the first problem."""
        obj = _object(data, "the reply")
        minimal = obj.get("minimal")
        if not isinstance(minimal, bool):
            raise _Bad('"minimal" must be true or false')
        if minimal:
            _keys(obj, "the reply", required=("minimal", "question"))
            question = _object(obj["question"], '"question"')
            _keys(question, '"question"', required=("user", "answer_format"))
            return Proposal(
                minimal=True,
                question=Question(
                    user=_text(question["user"], "question.user"),
                    answer_format=_text(question["answer_format"], "question.answer_format"),
                ),
            )
        _keys(obj, "the reply", required=("minimal", "subtasks", "compose"))
        subtasks = self._subtasks(obj["subtasks"])
        return Proposal(minimal=False, subtasks=subtasks, compose=_compose(obj["compose"]))

    def _subtasks(self, value: JSONValue) -> list[Subtask]:
        if not isinstance(value, list):
            raise _Bad('"subtasks" must be a list')
        if len(value) < 2:
            raise _Bad(f"a split needs at least 2 subtasks, not {len(value)} (or answer minimal)")
        if len(value) > self.max_subtasks:
            raise _Bad(f"{len(value)} subtasks: at most {self.max_subtasks}")
        items = [_object(item, f"subtasks[{i}]") for i, item in enumerate(value)]
        names: dict[str, str] = {}
        for i, item in enumerate(items):
            _keys(item, f"subtasks[{i}]", required=("id", "task"), optional=("depends_on",))
            name = item["id"]
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_SUBTASK_ID_CHARS:
                raise _Bad(f"subtasks[{i}].id must be a non-empty string of at most {MAX_SUBTASK_ID_CHARS} characters")
            if name in names:
                raise _Bad(f"duplicate subtask id {_show(name)}")
            names[name] = f"s{i + 1}"
        subtasks: list[Subtask] = []
        graph: dict[str, list[str]] = {}
        for i, item in enumerate(items):
            deps = item.get("depends_on", [])
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                raise _Bad(f"subtasks[{i}].depends_on must be a list of subtask ids")
            own = names[item["id"]]
            renamed: list[str] = []
            for dep in deps:
                if dep not in names:
                    raise _Bad(f"subtasks[{i}] depends on {_show(dep)}, which is no subtask's id")
                if names[dep] == own:
                    raise _Bad(f"subtasks[{i}] depends on itself")
                if names[dep] in renamed:
                    raise _Bad(f"subtasks[{i}] depends on {_show(dep)} twice")
                renamed.append(names[dep])
            renamed.sort(key=lambda name: int(name[1:]))
            graph[own] = renamed
            subtasks.append(Subtask(id=own, task=_text(item["task"], f"subtasks[{i}].task"), depends_on=renamed))
        try:
            topological_order(graph)
        except ValueError as exc:  # "nodes: a cycle: s1 -> s2 -> s1"
            raise _Bad(str(exc).removeprefix("nodes: ")) from None
        return subtasks


def _compose(value: JSONValue) -> Compose:
    obj = _object(value, '"compose"')
    _keys(obj, '"compose"', required=("function",), optional=("operation", "separator"))
    function, operation, separator = obj["function"], obj.get("operation"), obj.get("separator")
    if not isinstance(function, str) or function not in SPLIT_FUNCTIONS:
        raise _Bad(f"compose.function must be one of {', '.join(SPLIT_FUNCTIONS)}, not {_show(function)}")
    if operation is not None and not isinstance(operation, str):
        raise _Bad(f"compose.operation must be one of {', '.join(REDUCE_OPERATIONS)}")
    if separator is not None and (
        not isinstance(separator, str) or len(separator) > MAX_SEPARATOR_CHARS or has_braces(separator)
    ):
        raise _Bad(f"compose.separator must be a string of at most {MAX_SEPARATOR_CHARS} characters")
    try:
        check_compose(function, operation, separator)
    except ValueError as exc:
        raise _Bad(str(exc)) from None
    return Compose(function=function, operation=operation, separator=separator)


def _object(value: JSONValue, what: str) -> Mapping[str, JSONValue]:
    if not isinstance(value, dict):
        raise _Bad(f"{what} must be a JSON object")
    return value


def _keys(obj: Mapping[str, JSONValue], what: str, *, required: Sequence[str], optional: Sequence[str] = ()) -> None:
    missing = [name for name in required if name not in obj]
    if missing:
        raise _Bad(f"{what} lacks {_show(missing[0])}")
    unknown = [name for name in obj if name not in required and name not in optional]
    if unknown:
        raise _Bad(f"{what} has an unknown field {_show(unknown[0])}")


def _text(value: JSONValue, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{what} must be a non-empty string")
    if has_braces(value):
        raise _Bad(f"{what} holds {{{{ or }}}} (texts become workflow templates)")
    return collapse(value)


def _show(value: object) -> str:
    """A short, one-line, quoted view of an untrusted value for a red flag's detail."""
    if isinstance(value, str | bool | float | int) or value is None:
        text = json.dumps(value, ensure_ascii=True)
    else:
        text = type(value).__name__
    return text if len(text) <= 40 else text[:39] + "…"


# --------------------------------------------------------------------------- the prompt

SYSTEM = """You split tasks into the smallest steps a small language model can do reliably, one short \
answer each (maximal agentic decomposition). You are given one task. Decide:

1. If the task is ONE action a small model can do in one short answer, reply
{{"minimal": true, "question": {{"user": "<the question to ask, self-contained>", "answer_format": \
"<what the answer looks like, e.g. an integer>"}}}}

2. Otherwise split it into 2 to {max_subtasks} subtasks that together do the task, and say how their \
results combine:
{{"minimal": false, "subtasks": [{{"id": "a", "task": "<a self-contained subtask>", "depends_on": []}}, \
{{"id": "b", "task": "<another>", "depends_on": ["a"]}}], "compose": {{"function": "reduce", "operation": "sum"}}}}

Rules:
- ids are short and unique; depends_on lists the ids of the subtasks whose results a subtask needs \
(no cycles).
- compose combines the results of ALL the subtasks, in the order listed. function is one of: \
concatenate (the results joined by newlines, or by "separator"), sequence (a list of the results), \
object_merge (JSON objects merged into one), last_only (the last subtask's result), reduce (with \
"operation": sum, multiply, max, min, and, or, or concat).
- No text may contain double curly braces.
- Reply with the JSON object only: no prose, no code fence."""


def system_prompt(max_subtasks: int) -> str:
    return SYSTEM.format(max_subtasks=max_subtasks)


def user_prompt(task: str, ancestors: Sequence[str], depth: int, max_depth: int) -> str:
    """The decision's user message. Its `Task:` line holds the task as one JSON string, so that the
    task can be read back from the prompt (`task_of_prompt`) whatever it contains."""
    lines = ["Decide how to carry out this task.", "", f"Task: {json.dumps(task, ensure_ascii=False)}"]
    for text in ancestors:
        short = text if len(text) <= CONTEXT_CHARS else text[: CONTEXT_CHARS - 1] + "…"
        lines.append(f"It is part of: {json.dumps(short, ensure_ascii=False)}")
    lines.append(f"Depth {depth} of at most {max_depth} (a task at depth {max_depth} is done as one question).")
    return "\n".join(lines)


_TASK_LINE = re.compile(r"^Task: (\".*\")$", re.MULTILINE)


def task_of_prompt(user: str) -> str | None:
    """The task a decision prompt asks about (its `Task:` line), or None for another prompt."""
    match = _TASK_LINE.search(user)
    if match is None:
        return None
    try:
        value = json.loads(match.group(1))
    except ValueError:
        return None
    return value if isinstance(value, str) else None
