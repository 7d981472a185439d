"""Workflow specs (`kind: workflow`): a DAG of voted subtasks and how their results compose.

```yaml
kind: workflow
name: facts
inputs: {doc_a: {}, doc_b: {}}
nodes:
  - id: year_a                                   # an inline question (a question spec's fields)
    user: "In which year ...? {{doc_a}}"
    answer: {regex: "Answer: *(?P<answer>\\d{4})"}
  - id: total
    depends_on: [year_a, year_b]
    uses: add.yaml                               # or a question/sequence spec file
    inputs: {x: "{{nodes.year_a.answer}}", y: "{{nodes.year_b.answer}}"}
compose: {function: reduce, operation: max, nodes: [year_a, year_b]}
```

Templates name workflow inputs (`{{doc_a}}`) and upstream results: `{{nodes.ID.answer}}` of a
question node, `{{nodes.ID.final_state}}` of a sequence node, where ID must be upstream of the
node (a dependency, directly or through others). Everything is checked when the file is loaded,
each problem one line naming the file and the field: no nodes, duplicate or unknown ids, a cycle
(listed: `a -> b -> c -> a`), a template naming a node that is not upstream or an input that is not
declared, a declared input no node uses, a `uses:` file that is missing or does not validate, a
`uses:` spec input not given (or given but unknown), an unknown composition.

Each node becomes an ordinary question or sequence spec (inline questions are validated as
question specs, with the upstream results as inputs), so nodes are judged, red-flagged and voted
exactly as `maker vote` and `maker run task` do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from maker_cli._types import JSONValue, OptionValue
from maker_cli.errors import SpecError
from maker_cli.specs.canonical import CanonicalStep
from maker_cli.specs.fields import (
    AnswerField,
    InputSpec,
    RedFlagSpec,
    Strict,
    VotingSpec,
    check_input_names,
    normalise_inputs,
    spec_settings,
)
from maker_cli.specs.question import QuestionSpec
from maker_cli.specs.sequence import SequenceSpec
from maker_cli.specs.templates import TemplateError, placeholders

NODE_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
NODE_REF = re.compile(r"\{\{\s*nodes\.([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z_]+)\s*\}\}")
REF_PREFIX = "node__"  # a node reference as a plain input name: node__ID__answer
MAX_NODES = 10_000
RESULT_FIELDS = {"question": "answer", "sequence": "final_state"}
COMPOSE_FUNCTIONS = ("identity", "concatenate", "sequence", "object_merge", "last_only", "reduce", "llm")
REDUCE_OPERATIONS = ("sum", "multiply", "max", "min", "and", "or", "concat")


def ref_name(node: str, field: str) -> str:
    """The plain input name that stands for `{{nodes.NODE.FIELD}}` inside a node's own spec."""
    return f"{REF_PREFIX}{node}__{field}"


def rewrite_refs(template: str) -> tuple[str, list[tuple[str, str]]]:
    """`template` with every `{{nodes.ID.FIELD}}` as `{{node__ID__FIELD}}`, and the (ID, FIELD) named."""
    found: list[tuple[str, str]] = []

    def swap(match: re.Match[str]) -> str:
        found.append((match.group(1), match.group(2)))
        return "{{" + ref_name(match.group(1), match.group(2)) + "}}"

    return NODE_REF.sub(swap, template), found


NO_MATCHING = (
    "a matching step (number with a tolerance, embedding) is not supported in workflows: "
    "a node's answer is matched exactly"
)


class InlineQuestion(Strict):
    """The question-spec fields a node (or an `llm` composition) may hold inline."""

    system: str | None = None
    user: str | None = None
    answer: AnswerField | None = None
    canonical: list[CanonicalStep] = Field(default_factory=list)
    red_flags: RedFlagSpec | None = None
    voting: VotingSpec | None = None
    sim_response: str | None = None
    expected: str | None = Field(None, description="the correct answer's template (simulated model only)")

    def inline_fields(self) -> dict[str, object]:
        return {
            name: value
            for name, value in self.model_dump(by_alias=True, exclude_unset=True).items()
            if name in InlineQuestion.model_fields
        }


class WorkflowNode(InlineQuestion):
    """One node: an inline question, or `uses:` a question or sequence spec file with `inputs:`."""

    id: str
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    uses: str | None = Field(None, description="a question or sequence spec, relative to the workflow file")
    inputs: dict[str, JSONValue] = Field(
        default_factory=dict, description="uses: the used spec's inputs (templates may name inputs and nodes)"
    )

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not NODE_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a node id (a lowercase letter, then lowercase letters, digits or _)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> WorkflowNode:
        inline = {name for name in self.model_fields_set if name in InlineQuestion.model_fields}
        if self.uses is not None and inline:
            raise ValueError(
                f"node {self.id}: give either uses: or the question fields, not both ({sorted(inline)[0]})"
            )
        if self.uses is None:
            if self.inputs:
                raise ValueError(f"node {self.id}: inputs: goes with uses:; an inline question names inputs directly")
            if self.user is None or self.answer is None:
                raise ValueError(f"node {self.id}: an inline question needs user: and answer: (or give uses: FILE)")
        return self


class ComposeSpec(InlineQuestion):
    """How the workflow's result is made from node results (`llm`: a voted question over them)."""

    function: Literal["identity", "concatenate", "sequence", "object_merge", "last_only", "reduce", "llm"] = "identity"
    operation: Literal["sum", "multiply", "max", "min", "and", "or", "concat"] | None = None
    separator: str | None = None
    nodes: list[str] | None = Field(None, description="which node results, in order (default: the sink nodes)")

    @model_validator(mode="after")
    def _fits(self) -> ComposeSpec:
        inline = {name for name in self.model_fields_set if name in InlineQuestion.model_fields}
        if self.function == "reduce" and self.operation is None:
            raise ValueError(f"reduce needs an operation: one of {', '.join(REDUCE_OPERATIONS)}")
        if self.function != "reduce" and self.operation is not None:
            raise ValueError(f"operation goes with function: reduce, not {self.function}")
        if self.function != "concatenate" and self.separator is not None:
            raise ValueError(f"separator goes with function: concatenate, not {self.function}")
        if self.function == "llm" and (self.user is None or self.answer is None):
            raise ValueError("function: llm is a voted question over the node results: give user: and answer:")
        if self.function != "llm" and inline:
            raise ValueError(f"{sorted(inline)[0]} goes with function: llm, not {self.function}")
        return self


class WorkflowSpec(Strict):
    """A DAG of voted subtasks (`maker run task workflow.yaml`)."""

    kind: Literal["workflow"] = "workflow"
    name: str = Field(min_length=1)
    description: str = ""
    model: str | None = Field(None, description="default model when --model is not given")
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    voting: VotingSpec = Field(default_factory=VotingSpec)
    nodes: list[WorkflowNode] = Field(min_length=1, max_length=MAX_NODES)
    compose: ComposeSpec = Field(default_factory=ComposeSpec)

    _source: str = PrivateAttr("<spec>")
    _sha256: str | None = PrivateAttr(None)
    _specs: dict[str, QuestionSpec | SequenceSpec] = PrivateAttr(default_factory=dict)
    _composer: QuestionSpec | None = PrivateAttr(None)
    _order: list[str] = PrivateAttr(default_factory=list)
    _by_id: dict[str, WorkflowNode] = PrivateAttr(default_factory=dict)

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: object) -> object:
        return normalise_inputs(value)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        check_input_names(value)
        bad = [name for name in value if name.startswith(REF_PREFIX)]
        if bad:
            raise ValueError(f"{bad[0]}: input names starting with {REF_PREFIX} are reserved for node results")
        return value

    @model_validator(mode="after")
    def _graph(self) -> WorkflowSpec:
        ids = [node.id for node in self.nodes]
        seen: set[str] = set()
        for index, node_id in enumerate(ids):
            if node_id in seen:
                raise ValueError(f"nodes[{index}].id: duplicate id {node_id!r}")
            seen.add(node_id)
        for index, node in enumerate(self.nodes):
            for dep in node.depends_on:
                if dep not in seen:
                    raise ValueError(f"nodes[{index}].depends_on: unknown node {dep!r} (nodes: {', '.join(ids)})")
                if dep == node.id:
                    raise ValueError(f"nodes[{index}].depends_on: node {dep!r} depends on itself")
        self._order = topological_order({node.id: node.depends_on for node in self.nodes})
        for name in self.compose.nodes or []:
            if name not in seen:
                raise ValueError(f"compose.nodes: unknown node {name!r} (nodes: {', '.join(ids)})")
        if self.compose.function == "identity" and len(self.result_nodes()) != 1:
            raise ValueError(
                f"compose: identity takes one node's result; {len(self.result_nodes())} nodes are results here "
                "(name one in compose.nodes, or choose another function)"
            )
        return self

    # --- after validation: the nodes as specs (needs the file's folder for uses:) -------------

    def resolve(self, folder: Path | None) -> None:
        """Build every node's spec (loading `uses:` files from `folder`) and check every template."""
        from maker_cli.specs import load_spec

        ancestors = upstream({node.id: node.depends_on for node in self.nodes})
        kinds: dict[str, str] = {}
        used_inputs: set[str] = set()
        for index, node in enumerate(self.nodes):
            where = f"nodes[{index}] ({node.id})"
            if node.uses is not None:
                path = (folder or Path.cwd()) / node.uses
                if not path.is_file():
                    raise ValueError(f"{where}.uses: {node.uses} not found (paths are relative to the workflow file)")
                try:
                    spec = load_spec(path)
                except SpecError as exc:
                    raise ValueError(f"{where}.uses: {exc}") from None
                if isinstance(spec, WorkflowSpec):
                    raise ValueError(f"{where}.uses: {node.uses} is a workflow; nest workflows by copying their nodes")
                missing = [
                    name
                    for name, declared in spec.inputs.items()
                    if declared.default is None and name not in node.inputs
                ]
                if missing:
                    raise ValueError(f"{where}.inputs: {missing[0]!r} is missing ({node.uses} needs it)")
                unknown = [name for name in node.inputs if name not in spec.inputs]
                if unknown:
                    raise ValueError(
                        f"{where}.inputs: {unknown[0]!r} is not an input of {node.uses} "
                        f"(its inputs: {', '.join(spec.inputs) or 'none'})"
                    )
                for name, value in node.inputs.items():
                    used_inputs |= self._check_refs(
                        f"{where}.inputs.{name}", str(value), node.id, ancestors[node.id], kinds
                    )
            else:
                if node.answer is not None and node.answer.matching is not None:
                    raise ValueError(f"{where}.answer.canonical: {NO_MATCHING}")
                data = node.inline_fields()
                refs: dict[str, InputSpec] = {}
                for field in ("system", "user", "expected"):
                    template = data.get(field)
                    if isinstance(template, str):
                        used_inputs |= self._check_refs(
                            f"{where}.{field}", template, node.id, ancestors[node.id], kinds
                        )
                        rewritten, found = rewrite_refs(template)
                        data[field] = rewritten
                        for ref_node, ref_field in found:
                            refs[ref_name(ref_node, ref_field)] = InputSpec(
                                description=f"node {ref_node}'s {ref_field}"
                            )
                names = set()
                for field in ("system", "user", "expected"):
                    template = data.get(field)
                    if isinstance(template, str):
                        names |= set(placeholders(template))
                declared = {name: self.inputs[name] for name in names if name in self.inputs}
                data.update(name=f"{self.name}.{node.id}", inputs={**declared, **refs}, kind="question")
                try:
                    spec = QuestionSpec.model_validate(data)
                except ValueError as exc:
                    raise ValueError(f"{where}: {_first_error(exc)}") from None
            if isinstance(spec, QuestionSpec) and spec.answer_field.matching is not None:
                raise ValueError(f"{where}.uses: {node.uses}: answer.canonical: {NO_MATCHING}")
            spec_kind = "sequence" if isinstance(spec, SequenceSpec) else "question"
            kinds[node.id] = spec_kind
            self._specs[node.id] = spec
        if self.compose.function == "llm":
            self._composer, composer_inputs = self._llm_composer(kinds)
            used_inputs |= composer_inputs
        unused = [name for name in self.inputs if name not in used_inputs]
        if unused:
            raise ValueError(f"inputs.{unused[0]}: declared but no node uses it")

    def _llm_composer(self, kinds: Mapping[str, str]) -> tuple[QuestionSpec, set[str]]:
        data = self.compose.inline_fields()
        every = set(kinds)
        refs: dict[str, InputSpec] = {}
        used: set[str] = set()
        for field in ("system", "user", "expected"):
            template = data.get(field)
            if isinstance(template, str):
                used |= self._check_refs(f"compose.{field}", template, None, every, kinds)
                rewritten, found = rewrite_refs(template)
                data[field] = rewritten
                for ref_node, ref_field in found:
                    refs[ref_name(ref_node, ref_field)] = InputSpec(description=f"node {ref_node}'s {ref_field}")
        names: set[str] = set()
        for field in ("system", "user", "expected"):
            template = data.get(field)
            if isinstance(template, str):
                names |= set(placeholders(template))
        declared = {name: self.inputs[name] for name in names if name in self.inputs}
        data.update(name=f"{self.name}.compose", inputs={**declared, **refs}, kind="question")
        try:
            return QuestionSpec.model_validate(data), used
        except ValueError as exc:
            raise ValueError(f"compose: {_first_error(exc)}") from None

    def _check_refs(
        self, where: str, template: str, node: str | None, upstream_of: set[str], kinds: Mapping[str, str]
    ) -> set[str]:
        """Check a template's node references (each must be in `upstream_of`) and input names;
        return the workflow inputs it uses. `node` None: the composition."""
        rewritten, found = rewrite_refs(template)
        for ref_node, ref_field in found:
            if ref_node not in kinds and ref_node not in {n.id for n in self.nodes}:
                raise ValueError(f"{where}: {{{{nodes.{ref_node}.{ref_field}}}}} names no node")
            if ref_node not in upstream_of:
                raise ValueError(
                    f"{where}: {{{{nodes.{ref_node}.{ref_field}}}}} is not upstream of node {node}: "
                    "add it to depends_on (directly or through another node)"
                )
            kind = kinds.get(ref_node)
            if kind is not None and RESULT_FIELDS[kind] != ref_field:
                raise ValueError(
                    f"{where}: {{{{nodes.{ref_node}.{ref_field}}}}}: a {kind} node's result is "
                    f"{{{{nodes.{ref_node}.{RESULT_FIELDS[kind]}}}}}"
                )
            if kind is None and ref_field not in RESULT_FIELDS.values():
                raise ValueError(f"{where}: {{{{nodes.{ref_node}.{ref_field}}}}}: use .answer or .final_state")
        try:
            names = placeholders(rewritten)
        except TemplateError as exc:
            raise ValueError(f"{where}: {exc}") from None
        plain = {name for name in names if not name.startswith(REF_PREFIX)}
        unknown = sorted(plain - set(self.inputs))
        if unknown:
            declared = ", ".join(self.inputs) or "none"
            raise ValueError(f"{where}: {{{{{unknown[0]}}}}} is not a declared input (inputs: {declared})")
        return plain

    # --- using a workflow -----------------------------------------------------------------------

    @property
    def source(self) -> str:
        return self._source

    @property
    def sha256(self) -> str | None:
        return self._sha256

    @property
    def order(self) -> list[str]:
        """The node ids in a dependency order (each after everything it depends on)."""
        return list(self._order)

    def node(self, node_id: str) -> WorkflowNode:
        by_id = self._by_id
        if not by_id:
            by_id.update((node.id, node) for node in self.nodes)
        return by_id[node_id]

    def node_spec(self, node_id: str) -> QuestionSpec | SequenceSpec:
        return self._specs[node_id]

    @property
    def composer(self) -> QuestionSpec | None:
        return self._composer

    def result_nodes(self) -> list[str]:
        """The nodes whose results are composed: compose.nodes, else the sinks in declaration order."""
        if self.compose.nodes:
            return list(self.compose.nodes)
        needed = {dep for node in self.nodes for dep in node.depends_on}
        return [node.id for node in self.nodes if node.id not in needed]

    def settings(self) -> dict[str, OptionValue]:
        """The workflow's layer of the job settings (model, voting)."""
        return spec_settings(self.model, self.voting, RedFlagSpec())

    def prompt_record(self) -> None:
        return None


def topological_order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Kahn's algorithm, ties broken by declaration order; ValueError naming a cycle."""
    deps = {node: list(dict.fromkeys(parents)) for node, parents in graph.items()}
    children: dict[str, list[str]] = {node: [] for node in deps}
    for node, parents in deps.items():
        for parent in parents:
            children[parent].append(node)
    waiting = {node: len(parents) for node, parents in deps.items()}
    ready = [node for node in deps if waiting[node] == 0]
    order: list[str] = []
    position = {node: i for i, node in enumerate(deps)}
    while ready:
        ready.sort(key=position.__getitem__)
        node = ready.pop(0)
        order.append(node)
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) < len(deps):
        raise ValueError(f"nodes: a cycle: {' -> '.join(find_cycle(deps, set(order)))}")
    return order


def find_cycle(deps: Mapping[str, list[str]], done: set[str]) -> list[str]:
    """One cycle among the nodes not in `done`, as a -> b -> ... -> a (following depends_on)."""
    start = next(node for node in deps if node not in done)
    path: list[str] = []
    index: dict[str, int] = {}
    node = start
    while node not in index:
        index[node] = len(path)
        path.append(node)
        node = next(parent for parent in deps[node] if parent not in done)
    cycle = path[index[node] :]
    cycle.reverse()  # a depends on b ... : show it in the direction work flows
    position = {name: i for i, name in enumerate(deps)}
    first = min(range(len(cycle)), key=lambda i: position[cycle[i]])  # start at the node declared first
    cycle = cycle[first:] + cycle[:first]
    return [*cycle, cycle[0]]


def upstream(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Every node's transitive dependencies."""
    order = topological_order(graph)
    found: dict[str, set[str]] = {}
    for node in order:
        mine: set[str] = set()
        for parent in graph[node]:
            mine.add(parent)
            mine |= found[parent]
        found[node] = mine
    return found


def _first_error(exc: ValueError) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from maker_cli.specs.loader import describe_errors

        return describe_errors(exc, "", QuestionSpec).removeprefix(": ").lstrip()
    return str(exc)
