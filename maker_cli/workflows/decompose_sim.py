"""The simulated model as a decomposer: a script of the right proposal for each task.

A script is a JSON object mapping task texts to what a correct decomposer answers:

    {
      "Add the prices of the two items": {
        "minimal": false,
        "subtasks": [{"id": "a", "task": "What does item A cost?"},
                     {"id": "b", "task": "What does item B cost?"}],
        "compose": {"function": "reduce", "operation": "sum"}
      },
      "What does item A cost?": {
        "minimal": true, "question": {"user": "What does item A cost?", "answer_format": "an integer"},
        "expected": "12"
      },
      "A reply sent verbatim": "not JSON at all"
    }

Task texts match with whitespace collapsed. An object is sent as its JSON (without `expected`); a
string is sent verbatim (to script a malformed reply). `expected` (a string or a number, one line)
is the correct answer of the task's question: when the task becomes a question node of the
workflow, the node gets `expected:` and `sim_response:` so that the simulated model can run the
workflow too. A task missing from the script gets `{"minimal": true, "question": {"user": TASK,
"answer_format": "a short answer"}}`.

The simulated model answers the scripted reply with probability p; otherwise a wrong reply
(`errors=collide`: always the same well-formed, different proposal; `errors=spread`: a mix of
different proposals, malformed JSON and proposals with a cycle), and with `invalid=` a truncated
one. This is built as a `Reference` for each decision prompt; `maker_cli.providers.sim` is unchanged.
`script_reference_for` gives the same references to `maker_cli.testing.sim_responder`, so a fake
OpenAI-compatible server can play the decomposer over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from maker_cli._types import JSONValue
from maker_cli.bounded_yaml import read_text_file
from maker_cli.errors import SpecError
from maker_cli.providers.base import Reference
from maker_cli.strict_json import load_json
from maker_cli.workflows.decompose_proposal import collapse, has_braces, task_of_prompt

DEFAULT_FORMAT = "a short answer"
WRONG_FORMAT = "a full paragraph explaining the reasoning"
MAX_SCRIPT_TASKS = 10_000


@dataclass(frozen=True, slots=True)
class ScriptEntry:
    reply: str  # what a correct decomposer answers, verbatim
    expected: str | None  # the task's correct answer, when it becomes a question


def minimal_reply(user: str, answer_format: str = DEFAULT_FORMAT) -> str:
    return json.dumps({"minimal": True, "question": {"user": user, "answer_format": answer_format}})


class DecompositionScript:
    """Scripted proposals by task text (whitespace collapsed)."""

    def __init__(self, entries: Mapping[str, ScriptEntry] | None = None, source: str = "<script>") -> None:
        self.entries = {collapse(task): entry for task, entry in (entries or {}).items()}
        self.source = source

    @classmethod
    def load(cls, path: str | Path) -> DecompositionScript:
        """Read a script file (JSON); SpecError naming the file and the task for anything wrong."""
        source = str(path)
        text = read_text_file(path, "decomposition script")
        try:
            data = load_json(text)
        except ValueError as exc:
            raise SpecError(f"{source}: not JSON ({exc})") from None
        return cls.parse(data, source)

    @classmethod
    def parse(cls, data: JSONValue, source: str = "<script>") -> DecompositionScript:
        if not isinstance(data, dict):
            raise SpecError(f"{source}: a decomposition script is a JSON object mapping task texts to proposals")
        if len(data) > MAX_SCRIPT_TASKS:
            raise SpecError(f"{source}: {len(data):,} tasks, over the limit of {MAX_SCRIPT_TASKS:,}")
        entries: dict[str, ScriptEntry] = {}
        for task, value in data.items():
            where = f"{source}: task {_short(task)}"
            if not task.strip():
                raise SpecError(f"{source}: a task text is empty")
            if isinstance(value, str):
                entries[task] = ScriptEntry(value, None)
                continue
            if not isinstance(value, dict):
                raise SpecError(f"{where}: give a proposal (a JSON object) or a reply (a string)")
            expected = value.get("expected")
            if expected is not None:
                if isinstance(expected, bool) or not isinstance(expected, (str, int, float)):
                    raise SpecError(f"{where}: expected must be a string or a number")
                expected = expected if isinstance(expected, str) else json.dumps(expected)
                if not expected.strip() or "\n" in expected or "\r" in expected or has_braces(expected):
                    raise SpecError(f"{where}: expected must be one non-empty line without {{{{ or }}}}")
            reply = json.dumps({key: item for key, item in value.items() if key != "expected"}, ensure_ascii=False)
            entries[task] = ScriptEntry(reply, expected)
        return cls(entries, source)

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, task: str) -> ScriptEntry | None:
        return self.entries.get(collapse(task))

    def expected(self, task: str) -> str | None:
        entry = self.entry(task)
        return entry.expected if entry is not None else None

    def reference(self, task: str) -> Reference:
        """The simulated decomposer's replies for a decision about `task`."""
        entry = self.entry(task)
        correct = entry.reply if entry is not None else minimal_reply(collapse(task))
        return Reference(correct, wrong_replies(task, correct))


def wrong_replies(task: str, correct: str) -> Callable[[int], str]:
    """Wrong replies for a decision: variant 0 is a well-formed proposal other than `correct` (a
    split answered minimal; a minimal task with another answer format); other variants cycle
    through a malformed reply, another well-formed proposal and a proposal with a cycle."""
    try:
        parsed = json.loads(correct)
    except ValueError:
        parsed = None
    question = parsed.get("question") if isinstance(parsed, dict) else None
    user = question.get("user") if isinstance(question, dict) else None
    if isinstance(parsed, dict) and parsed.get("minimal") is False:
        base = minimal_reply(collapse(task))
    else:
        base = minimal_reply(user if isinstance(user, str) else collapse(task), WRONG_FORMAT)
    if base == correct:  # a script whose reply is this very proposal: answer something else
        base = minimal_reply(collapse(task), WRONG_FORMAT + " (2)")

    def wrong(variant: int) -> str:
        if variant == 0:
            return base
        kind = variant % 3
        if kind == 1:
            return "I would split this task into a few parts."
        if kind == 2:
            return minimal_reply(collapse(task), f"{WRONG_FORMAT} (variant {variant})")
        cycle = [
            {"id": "a", "task": f"first part of: {collapse(task)}", "depends_on": ["b"]},
            {"id": "b", "task": f"second part of: {collapse(task)}", "depends_on": ["a"]},
        ]
        return json.dumps({"minimal": False, "subtasks": cycle, "compose": {"function": "last_only"}})

    return wrong


def script_reference_for(script: DecompositionScript) -> Callable[[str, str], Reference | None]:
    """For `maker_cli.testing.sim_responder(model, reference_for=...)`: the reference of a decision
    prompt, read from its `Task:` line (None for any other prompt)."""

    def reference_for(system: str, user: str) -> Reference | None:
        task = task_of_prompt(user)
        return script.reference(task) if task is not None else None

    return reference_for


def _short(text: str) -> str:
    shown = json.dumps(text, ensure_ascii=True)
    return shown if len(shown) <= 50 else shown[:49] + "…"
