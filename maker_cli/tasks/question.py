"""Voted questions as tasks: a question spec with its inputs, and a free prompt.

`QuestionTask` is what `maker vote --task FILE` asks and what `maker calibrate task FILE --dataset
items.jsonl` measures (one probe per dataset item). `PromptTask` is `maker vote --prompt TEXT`: the
whole reply (or a regex's `answer` group) is the answer, whitespace collapsed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import ValidationError

from maker_cli._types import JSONObject, OptionValue
from maker_cli.bounded_yaml import read_text_file
from maker_cli.core.step import StepPrompt
from maker_cli.errors import UsageError
from maker_cli.providers.base import Reference
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.judge import AnswerJudge
from maker_cli.specs.loader import describe_errors
from maker_cli.specs.prompt_file import PromptRecord
from maker_cli.specs.question import QuestionSpec
from maker_cli.specs.ranked import RankedJudge
from maker_cli.tasks.base import Probe, TaskDefaults
from maker_cli.tasks.simulated import build_reference, response_text

if TYPE_CHECKING:
    from maker_cli.tasks import TaskOptions


@dataclass(frozen=True, slots=True)
class DatasetItem:
    """One dataset line: the spec's inputs and the expected answer (None: the spec's template)."""

    inputs: dict[str, str]
    expected: str | None
    line: int


class QuestionTask(TaskDefaults):
    """A question spec with its inputs (for a vote) or a labelled dataset (for calibration)."""

    kind: ClassVar[str] = "question"

    def __init__(
        self,
        spec: QuestionSpec,
        inputs: Mapping[str, object] | None = None,
        dataset: Sequence[DatasetItem] | None = None,
        expected: str | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.inputs = {k: str(v) for k, v in (inputs or {}).items()}
        self.dataset = list(dataset) if dataset is not None else None
        self.expected = expected  # the correct answer when the spec gives none (the simulated model's answer=)
        self._judge = spec.judge()

    @classmethod
    def from_spec(cls, spec: QuestionSpec, options: TaskOptions) -> QuestionTask:
        """From `maker_cli.tasks.task_for_spec` (options: a TaskOptions)."""
        if options.steps is not None:
            raise UsageError("--steps applies to sequence specs; a question is one step")
        if options.dataset is not None and options.inputs:
            raise UsageError(
                "--input applies to sequence specs; a question spec being calibrated takes its "
                "inputs from the dataset's lines"
            )
        return cls(spec, options.inputs, options.dataset)

    def judge(self) -> AnswerJudge | RankedJudge:
        return self._judge

    @property
    def ranking_depth(self) -> int | None:
        """The depth of the spec's ranked answers (`answer.ranked`, for borda), or None."""
        return self.spec.answer.ranked

    def settings(self) -> dict[str, OptionValue]:
        return self.spec.settings()

    def config(self) -> JSONObject:
        return {"kind": self.kind, "spec": self.spec.source, "sha256": self.spec.sha256, "inputs": self.inputs}

    def prompt_record(self) -> PromptRecord:
        return self.spec.prompt_record()

    def has_expected(self) -> bool:
        """Whether the spec (its `expected` template and these inputs) gives the correct answer."""
        return self.spec.expected_key(self.inputs) is not None

    def with_expected(self, text: str) -> QuestionTask:
        """This question with `text` as its correct answer (the simulated model answers it in the spec's format)."""
        return QuestionTask(self.spec, self.inputs, self.dataset, expected=text)

    def simulation_problem(self) -> str | None:
        if self.dataset is not None or self.spec.expected_key(self.inputs, self.expected) is not None:
            return None
        if self.spec.expected is None:
            return 'it has no `expected:` answer: add one (e.g. `expected: "{{expected}}"` with an input expected)'
        if "expected" in self.spec.inputs:
            return "it needs the correct answer: give the spec's expected input (--input expected=VALUE)"
        return "its `expected:` template is empty for these inputs: give the inputs it uses"

    def prompt(self, *, simulated: bool) -> StepPrompt:
        """The question's messages for these inputs (with the sim's reference when it has one)."""
        system, user = self.spec.render(self.inputs)
        return StepPrompt(0, system, user, self.reference(self.inputs, self.expected) if simulated else None)

    def reference(self, inputs: Mapping[str, object], expected: str | None = None) -> Reference | None:
        """Correct and wrong responses for the simulated model, or None without an expected answer."""
        spec = self.spec
        value = spec.expected_value(inputs, expected)
        if value is None:
            return None
        fields = {"answer": spec.answer_field}
        hint = " (set sim_response to a reply your answer rules accept, with {{answer}} in it)"
        return build_reference(
            judge=self._judge,
            respond=lambda values: response_text(fields, values, spec.sim_response),
            expected={"answer": value},
            expected_key=spec.expected_key(inputs, expected) or "",
            rules=spec.red_flag_rules(None),
            allowed={"answer": spec.answer.allowed or ()},
            where=f"{spec.source}: sim_response" if spec.source != "<spec>" else "sim_response",
            hint=hint if spec.sim_response is None and spec.answer.regex else "",
        )

    def probes(self, count: int, *, seed: int | None, simulated: bool) -> list[Probe]:
        """`count` probes cycling through the dataset's items in a seeded random order."""
        if self.spec.answer_field.matching is not None:
            raise UsageError(
                f"{self.spec.source}: calibration compares each sample with the expected answer exactly, and this "
                f"spec matches answers ({self.spec.answer_field.matching.kind} step): calibrate a copy without it"
            )
        if not self.dataset:
            raise UsageError(
                f"{self.spec.source} is a question spec: calibrating it needs a labelled dataset (--dataset "
                'items.jsonl, one {"inputs": {...}, "expected": ...} per line)'
            )
        prepared: list[Probe] = []
        for index, item in enumerate(self.dataset):
            system, user = self.spec.render(item.inputs)
            try:
                key = self.spec.expected_key(item.inputs, item.expected)
            except UsageError as exc:
                raise UsageError(f"dataset line {item.line}: {exc}") from None
            if key is None:
                raise UsageError(
                    f'dataset line {item.line}: no expected answer (add an "expected" key, or give the spec '
                    "an `expected` template its inputs fill)"
                )
            ref = self.reference(item.inputs, item.expected) if simulated else None
            prepared.append(Probe(item=index, system=system, user=user, expected_key=key, reference=ref))
        order = list(range(len(prepared)))
        random.Random(seed).shuffle(order)
        return [prepared[order[j % len(order)]] for j in range(count)]

    def calibration_source(self) -> str:
        return f"task {self.name}, {len(self.dataset or ()):,} items"

    @property
    def calibration_size(self) -> int | None:
        return len(self.dataset) if self.dataset else None

    @property
    def planning_steps(self) -> int:
        """One step per dataset item (a job asking this question that often)."""
        return len(self.dataset) if self.dataset else 1


class PromptTask(TaskDefaults):
    """A free prompt: the whole reply, or the last match of a regex's `answer` group, is the answer."""

    kind: ClassVar[str] = "prompt"
    name = "prompt"

    def __init__(self, user: str, system: str = "", answer_regex: str | None = None) -> None:
        self.system = system
        self.user = user
        self.answer_regex = answer_regex
        try:
            field = AnswerField(
                regex=answer_regex or r"(?s)\A(?P<answer>.*)\Z", canonical=["collapse_whitespace", "strip"]
            )
        except ValidationError as exc:
            raise UsageError(
                describe_errors(exc, "--answer-regex").replace("--answer-regex: regex: ", "--answer-regex: ")
            ) from None
        self._judge = AnswerJudge({"answer": field})

    def judge(self) -> AnswerJudge:
        return self._judge

    def config(self) -> JSONObject:
        return {"kind": self.kind, "system": self.system, "user": self.user, "answer_regex": self.answer_regex}

    def simulation_problem(self) -> str | None:
        return None  # the simulated model answers a free prompt with its `answer=` option

    def prompt(self, *, simulated: bool) -> StepPrompt:
        return StepPrompt(0, self.system, self.user, None)

    def probes(self, count: int, *, seed: int | None, simulated: bool) -> list[Probe]:
        raise UsageError("a free prompt has no known answers to calibrate against: use a task spec and a dataset")

    def calibration_source(self) -> str:
        return "a free prompt"

    planning_steps = 1


# --- datasets -----------------------------------------------------------------------------------


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def parse_dataset_line(data: object, line: int, input_names: Iterable[str]) -> DatasetItem:
    """`{"inputs": {...}, "expected": ...}`, or flat `{"a": ..., "b": ..., "expected": ...}`.

    Flat: every key is an input, except `expected` when the spec declares no input of that name.
    Either way, the expected answer also reaches a declared `expected` input that was not given
    (that is how the simulated model and the spec's `expected` template see it).
    """
    if not isinstance(data, dict):
        raise UsageError(f"dataset line {line}: each line is a JSON object, got {type(data).__name__}")
    names = set(input_names)
    expected = data.get("expected")
    if "inputs" in data and "inputs" not in names:
        if not isinstance(data["inputs"], dict):
            raise UsageError(f"dataset line {line}: 'inputs' must be an object")
        extra = sorted(set(data) - {"inputs", "expected"})
        if extra:
            raise UsageError(f"dataset line {line}: unknown key {extra[0]!r} (next to 'inputs' only 'expected')")
        inputs = {str(k): _text(v) for k, v in data["inputs"].items()}
    else:
        inputs = {str(k): _text(v) for k, v in data.items() if k != "expected" or "expected" in names}
    if expected is not None and "expected" in names and "expected" not in inputs:
        inputs["expected"] = _text(expected)
    return DatasetItem(inputs, None if expected is None else _text(expected), line)


def load_dataset(path: str | Path, input_names: Iterable[str] = ()) -> list[DatasetItem]:
    """Read a JSONL dataset (blank lines and lines starting with // or # are skipped)."""
    text = read_text_file(path, "dataset", limit=256 * 1024 * 1024)
    names = list(input_names)
    items = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("//", "#")):
            continue
        try:
            data = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise UsageError(f"{path}: line {number}: not JSON ({getattr(exc, 'msg', 'nested too deeply')})") from None
        items.append(parse_dataset_line(data, number, names))
    if not items:
        raise UsageError(f"{path}: the dataset has no items")
    return items
