"""A workflow spec with its inputs: what `maker run task workflow.yaml` runs.

The task renders each node's inputs from the workflow's inputs and its upstream results, and
builds the node's own question or sequence task, so a node is judged, red-flagged and voted
exactly as `maker vote` or `maker run task` would do it on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from maker_cli._types import JSONObject, JSONValue, OptionValue
from maker_cli.core.step import StepPrompt
from maker_cli.errors import SpecError, UsageError
from maker_cli.specs import load_spec
from maker_cli.specs.canonical import as_text
from maker_cli.specs.fields import input_values
from maker_cli.specs.question import QuestionSpec
from maker_cli.specs.sequence import SequenceSpec
from maker_cli.specs.templates import placeholders, render
from maker_cli.specs.workflow import REF_PREFIX, WorkflowSpec, ref_name, rewrite_refs
from maker_cli.strict_json import dump_json
from maker_cli.tasks.base import unchanged_file
from maker_cli.tasks.question import QuestionTask
from maker_cli.tasks.sequence import SequenceTask
from maker_cli.workflows.compose import NodeKind, NodeResult

UNKNOWN_STEPS = 100  # a sequence node whose length is unknown before it runs counts this many in estimates


class WorkflowTask:
    """A workflow spec and its inputs (`kind: workflow`)."""

    kind: ClassVar[str] = "workflow"

    def __init__(
        self,
        spec: WorkflowSpec,
        inputs: Mapping[str, JSONValue] | None = None,
        *,
        trust_code: bool = False,
        steps_of: Mapping[str, int] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.source = spec.source
        self.trust_code = trust_code
        self.given_inputs = dict(inputs or {})
        self.values = input_values(spec.inputs, self.given_inputs, spec.name)
        self.texts = {name: as_text(value) for name, value in self.values.items()}
        unknown = sorted(
            set(steps_of or {}) - {n.id for n in spec.nodes if isinstance(spec.node_spec(n.id), SequenceSpec)}
        )
        if unknown:
            raise UsageError(f"--steps-of {unknown[0]}: not a sequence node of {spec.name}")
        self.steps_of = dict(steps_of or {})

    # --- the Task-like surface the run planner uses -------------------------------------------

    @classmethod
    def from_file(
        cls, path: str | Path, inputs: Mapping[str, JSONValue] | None = None, *, trust_code: bool = False
    ) -> WorkflowTask:
        spec = load_spec(path)
        if not isinstance(spec, WorkflowSpec):
            raise UsageError(f"{path} is not a workflow spec")
        return cls(spec, inputs, trust_code=trust_code)

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> WorkflowTask:
        """Re-create the task of a stored run; refuses when the workflow file changed since."""
        path = unchanged_file(config, "workflow")
        steps_of = config.get("steps_of") or {}
        return cls.from_file_with(path, config.get("inputs") or {}, bool(config.get("trust_code")), steps_of)

    @classmethod
    def from_file_with(
        cls, path: Path, inputs: Mapping[str, JSONValue], trust_code: bool, steps_of: Mapping[str, int]
    ) -> WorkflowTask:
        spec = load_spec(path)
        if not isinstance(spec, WorkflowSpec):
            raise UsageError(f"{path} is no longer a workflow spec; restore it, or start a new run")
        return cls(spec, inputs, trust_code=trust_code, steps_of=steps_of)

    def config(self) -> JSONObject:
        return {
            "kind": self.kind,
            "spec": str(Path(self.source).resolve()),
            "sha256": self.spec.sha256,
            "inputs": dict(self.given_inputs),
            "steps_of": dict(self.steps_of),
        }

    def settings(self) -> dict[str, OptionValue]:
        return self.spec.settings()

    def prompt_record(self) -> None:
        return None

    def simulation_problem(self) -> str | None:
        """Why the simulated model cannot play this workflow (a question node without `expected`)."""
        for node in self.spec.nodes:
            spec = self.spec.node_spec(node.id)
            if isinstance(spec, QuestionSpec) and spec.expected is None and "expected" not in spec.inputs:
                return f"node {node.id} has no expected answer (give it `expected:`, or use a real model)"
        composer = self.spec.composer
        if composer is not None and composer.expected is None:
            return "the llm composition has no expected answer (give compose.expected)"
        return None

    @property
    def node_ids(self) -> list[str]:
        return [node.id for node in self.spec.nodes]

    def node_steps(self, node_id: str) -> int:
        """Voted steps of a node: 1 for a question; a sequence node's fixed length, `--steps-of`, or
        its bound (an upper bound) when its inputs are only known at run time."""
        spec = self.spec.node_spec(node_id)
        if isinstance(spec, QuestionSpec):
            return 1
        if node_id in self.steps_of:
            return self.steps_of[node_id]
        if isinstance(spec.termination.steps, int):
            return spec.termination.steps
        return UNKNOWN_STEPS

    def assumed_lengths(self) -> list[str]:
        """Sequence nodes whose length the estimate assumes (UNKNOWN_STEPS): give --steps-of ID=N."""
        return [
            n
            for n in self.node_ids
            if isinstance(self.spec.node_spec(n), SequenceSpec)
            and n not in self.steps_of
            and not isinstance(self.spec.node_spec(n).termination.steps, int)  # type: ignore[union-attr]
        ]

    @property
    def planning_steps(self) -> int:
        """Every voted step of the workflow (the llm composition counts one)."""
        return sum(self.node_steps(n) for n in self.node_ids) + (1 if self.spec.composer is not None else 0)

    @property
    def steps_total(self) -> int:
        """A workflow run counts nodes (and the llm composition) as its steps."""
        return len(self.spec.nodes) + (1 if self.spec.composer is not None else 0)

    def first_prompt(self, *, simulated: bool) -> StepPrompt:
        """The first node's first prompt (what the estimate takes the tokens per call from)."""
        first = self.spec.order[0]
        sub = self.node_task(first, {})
        if isinstance(sub, SequenceTask):
            state, previous = sub.start()
            return sub.prompt(0, state, previous, simulated=simulated)
        return sub.prompt(simulated=simulated)

    def critical_path(self) -> list[str]:
        """The chain of nodes with the most voted steps (the floor of the workflow's wall time)."""
        best: dict[str, tuple[int, list[str]]] = {}
        for node_id in self.spec.order:
            node = self.spec.node(node_id)
            before = max((best[d] for d in node.depends_on), key=lambda x: x[0], default=(0, []))
            best[node_id] = (before[0] + self.node_steps(node_id), [*before[1], node_id])
        return max(best.values(), key=lambda x: x[0])[1]

    # --- nodes ---------------------------------------------------------------------------------

    def template_values(self, results: Mapping[str, NodeResult]) -> dict[str, str]:
        """What a node's templates may name: the inputs (as text) and the upstream results."""
        values = dict(self.texts)
        for node_id, result in results.items():
            values[ref_name(node_id, "answer")] = result.answer
            values[ref_name(node_id, "final_state")] = (
                dump_json(result.value) if result.kind == NodeKind.SEQUENCE else result.answer
            )
        return values

    def question_task(self, spec: QuestionSpec, given: Mapping[str, str]) -> QuestionTask:
        return QuestionTask(spec, {name: given[name] for name in spec.inputs if name in given})

    def node_task(self, node_id: str, results: Mapping[str, NodeResult]) -> QuestionTask | SequenceTask:
        """The node's own task, its inputs rendered from the workflow's and the upstream results."""
        node = self.spec.node(node_id)
        spec = self.spec.node_spec(node_id)
        values = self.template_values(results)
        if node.uses is None:
            assert isinstance(spec, QuestionSpec)  # an inline node is a question
            return self.question_task(spec, values)
        given: dict[str, JSONValue] = {}
        for name, template in node.inputs.items():
            if isinstance(template, str):
                text, _ = rewrite_refs(template)
                given[name] = render(text, values) if placeholders(text) else template
            else:
                given[name] = template
        try:
            if isinstance(spec, QuestionSpec):
                return QuestionTask(spec, {k: str(v) for k, v in given.items()})
            return SequenceTask(spec, inputs=given, trust_code=self.trust_code)
        except (UsageError, SpecError) as exc:
            raise UsageError(f"node {node_id}: {exc}") from None

    def composer_task(self, results: Mapping[str, NodeResult]) -> QuestionTask:
        composer = self.spec.composer
        assert composer is not None  # only for compose: llm
        return self.question_task(composer, self.template_values(results))


def is_ref(name: str) -> bool:
    return name.startswith(REF_PREFIX)
