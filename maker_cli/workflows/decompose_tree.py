"""The decomposition tree, and the workflow spec written from it.

The workflow's nodes are the tree's questions (its minimal tasks), one inline question node each:

- `user:` the question, the results it may use (`{{nodes.X.answer}}`, one line each) and the
  answer format, ending with the instruction to end with `Answer: <answer>`;
  `answer: {regex: "Answer: *(?P<answer>.+)"}`; `description:` the task it came from; with an
  expected answer (from a decomposition script), `expected:` and `sim_response: "Answer: {{answer}}"`.
- `depends_on:` a dependency on a sibling that is itself a question is a dependency on its node; on
  a sibling that was split, on that subtree's result node(s) (below). A question inherits the
  dependencies of every task it is part of, so that nothing it may need runs after it.
- A YAML comment above each node says where it came from: `# from: root > s2 > s1`.

Composition. The workflow's `compose:` is the root decision's, over the root's result nodes. A split
nested in another composes its children's results by its own function; the written workflow has one
composition only, so:

- a nested split with the same composition as its parent (the same function, operation and
  separator) is flattened: its result nodes join the parent's list (exact for every function, as
  each is associative; a nested `sequence` becomes part of the parent's flat list);
- a nested `last_only` split contributes its last result node (exact);
- any other nested split gets one more inline question node, `<path>_compose`, that combines its
  children's results as the function says (voted like any other node; with every child's expected
  answer known, its expected answer is computed with `maker_cli.workflows.compose`).
"""

from __future__ import annotations

import json
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from maker_cli._types import JSONObject, JSONValue
from maker_cli.errors import MakerError, SpecError
from maker_cli.specs import WorkflowSpec, parse_spec
from maker_cli.specs.canonical import as_text
from maker_cli.specs.workflow import topological_order
from maker_cli.workflows.compose import ComposeError, NodeKind, NodeResult, compose
from maker_cli.workflows.decompose_proposal import Compose, Question, collapse

ANSWER_REGEX = "Answer: *(?P<answer>.+)"
COMPOSED_REGEX = "(?s)Answer: *(?P<answer>.+)"  # a composition may span lines (concatenate)
SIM_RESPONSE = "Answer: {{answer}}"
ANSWER_LINE = 'End your reply with a last line of the form "Answer: <answer>".'
LABEL_CHARS = 200

Shape = Literal["question", "split", "undecided", "pending"]
Why = Literal["voted", "max_depth", "decision_cap", "sequential", "not_reached"]


class TreeNode(BaseModel):
    """One task of the decomposition: a question (minimal), a split, or (when the decomposition
    stopped) undecided or pending (not reached)."""

    id: str = Field(description="'root', or the canonical id among its siblings: s1, s2, ...")
    path: str = Field(description="the decisions that led here, e.g. 'root > s2 > s1'")
    task: str
    depth: int
    shape: Shape = Field(description="question (minimal), split, or when it stopped: undecided, pending (not reached)")
    why: Why = Field(
        description="voted; max_depth or decision_cap (treated as minimal unasked); sequential; not_reached"
    )
    decision: int | None = Field(None, description="the index of its decision in `decisions`")
    depends_on: list[str] = Field(default_factory=list, description="sibling ids whose results it needs")
    question: Question | None = None
    compose: Compose | None = None
    expected: str | None = Field(None, description="the question's expected answer (decomposition script)")
    node: str | None = Field(None, description="its workflow node (a question's, or the node composing a split)")
    children: list[TreeNode] = Field(default_factory=list)

    def walk(self) -> list[TreeNode]:
        """This node and every node below it, depth first."""
        found = [self]
        for child in self.children:
            found += child.walk()
        return found


def node_name(path: list[str]) -> str:
    """A question's workflow node id: its path without 'root' ('root > s2 > s1' -> 's2_s1')."""
    return "_".join(path[1:]) or "task"


def label(text: str) -> str:
    short = collapse(text)
    return short if len(short) <= LABEL_CHARS else short[: LABEL_CHARS - 1] + "…"


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings as literal blocks (PyYAML falls back to quotes when it must)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def _dump(data: JSONValue) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


class WorkflowBuilder:
    """Turns a decided tree into workflow YAML (see the module doc); notes say what was chosen."""

    def __init__(self, root: TreeNode) -> None:
        self.root = root
        self.nodes: list[JSONObject] = []
        self.comments: list[str] = []
        self.labels: dict[str, str] = {}
        self.expected: dict[str, str | None] = {}
        self.notes: list[str] = []

    def build(self, *, name: str, description: str, header: list[str]) -> tuple[str, WorkflowSpec]:
        """The workflow's YAML text and the spec it loads as (checked here: a bug otherwise)."""
        results = self._subtree(self.root, [])
        document: JSONObject = {"kind": "workflow", "name": name, "description": description}
        compose_section: JSONObject | None = None
        if self.root.shape == "split" and self.root.compose is not None:
            compose_section = self.root.compose.model_dump(exclude_none=True)
            compose_section["nodes"] = results
        lines = [f"# {line}" for line in header]
        lines.append(_dump(document).rstrip("\n"))
        lines.append("nodes:")
        for comment, node in zip(self.comments, self.nodes, strict=True):
            lines.append(f"  # {comment}")
            lines.extend(f"  {line}" if line else line for line in _dump([node]).rstrip("\n").split("\n"))
        if compose_section is not None:
            lines.append(_dump({"compose": compose_section}).rstrip("\n"))
        text = "\n".join(lines) + "\n"
        data: JSONObject = {**document, "nodes": self.nodes}
        if compose_section is not None:
            data["compose"] = compose_section
        try:
            if yaml.safe_load(text) != data:
                raise MakerError("internal error: the workflow YAML does not read back as written")
            spec = parse_spec(text, "<decomposition>")
        except (SpecError, yaml.YAMLError) as exc:
            raise MakerError(f"internal error: the decomposed workflow does not validate: {exc}") from None
        assert isinstance(spec, WorkflowSpec)
        return text, spec

    def _subtree(self, tree: TreeNode, inherited: list[str]) -> list[str]:
        """Write the nodes of `tree` (each depending on `inherited` too); return its result nodes:
        what its composition combines, in order."""
        if tree.shape == "question":
            return [self._question(tree, inherited)]
        if tree.shape != "split" or tree.compose is None:
            raise MakerError(f"internal error: {tree.path} is {tree.shape}; only a decided tree becomes a workflow")
        exported: dict[str, list[str]] = {}
        children = {child.id: child for child in tree.children}
        for child_id in topological_order({child.id: child.depends_on for child in tree.children}):
            child = children[child_id]
            deps = list(inherited)
            for dep in child.depends_on:
                deps += [node for node in exported[dep] if node not in deps]
            exported[child_id] = self._export(child, self._subtree(child, deps), tree)
        return [node for child in tree.children for node in exported[child.id]]

    def _export(self, child: TreeNode, results: list[str], parent: TreeNode) -> list[str]:
        """The nodes standing for `child`'s result in its parent's composition."""
        if child.shape == "question":
            return results
        assert child.compose is not None and parent.compose is not None
        if child.compose == parent.compose:
            return results
        if child.compose.function == "last_only":
            return results[-1:]
        return [self._composer(child, results)]

    def _question(self, tree: TreeNode, deps: list[str]) -> str:
        name = node_name(tree.path.split(" > "))
        question = tree.question or Question(user=collapse(tree.task), answer_format="a short answer")
        parts = [question.user]
        if deps:
            parts.append(
                "Results you may use:\n"
                + "\n".join(f'- result of "{self.labels[d]}": {{{{nodes.{d}.answer}}}}' for d in deps)
            )
        parts.append(f"Answer format: {question.answer_format}.\n{ANSWER_LINE}")
        node: JSONObject = {"id": name, "description": collapse(tree.task)}
        if deps:
            node["depends_on"] = deps
        node |= {"user": "\n\n".join(parts), "answer": {"regex": ANSWER_REGEX}}
        self._add(node, tree, name, tree.expected, f"from: {tree.path}" + _why(tree))
        return name

    def _composer(self, tree: TreeNode, results: list[str]) -> str:
        assert tree.compose is not None
        name = node_name(tree.path.split(" > ")) + "_compose"
        listed = "\n".join(
            f'{i}. result of "{self.labels[r]}": {{{{nodes.{r}.answer}}}}' for i, r in enumerate(results, 1)
        )
        user = (
            f"These are the results of the parts of this task: {collapse(tree.task)}\n\n{listed}\n\n"
            f"Combine them: {how(tree.compose)}.\n{ANSWER_LINE}"
        )
        node: JSONObject = {
            "id": name,
            "description": f"composes {tree.path} ({tree.compose.label()})",
            "depends_on": list(results),
            "user": user,
            "answer": {"regex": COMPOSED_REGEX},
        }
        expected = self._composed_expected(tree.compose, results)
        self._add(node, tree, name, expected, f"composes: {tree.path} ({tree.compose.label()})")
        self.notes.append(
            f"{tree.path}: composed by {tree.compose.label()}, unlike the task it is part of: "
            f"the extra question node {name} combines its results"
        )
        return name

    def _add(self, node: JSONObject, tree: TreeNode, name: str, expected: str | None, comment: str) -> None:
        if expected is not None:
            node |= {"expected": expected, "sim_response": SIM_RESPONSE}
        tree.node = name
        self.nodes.append(node)
        self.comments.append(comment)
        self.labels[name] = label(tree.task)
        self.expected[name] = expected

    def _composed_expected(self, how_: Compose, results: list[str]) -> str | None:
        known = [self.expected.get(r) for r in results]
        if any(value is None for value in known):
            return None
        items = [NodeResult(r, NodeKind.QUESTION, str(v), str(v)) for r, v in zip(results, known, strict=True)]
        try:
            value = compose(how_.function, items, operation=how_.operation, separator=how_.separator or "\n")
        except ComposeError:
            return None
        return as_text(value)


def _why(tree: TreeNode) -> str:
    if tree.why == "max_depth":
        return " (max depth reached: asked as one question)"
    if tree.why == "decision_cap":
        return " (decision limit reached: asked as one question)"
    return ""


_REDUCE = {
    "sum": "add them up and give the sum",
    "multiply": "multiply them and give the product",
    "max": "give the largest of them",
    "min": "give the smallest of them",
    "and": "give true if every one of them is true, else false",
    "or": "give true if any of them is true, else false",
    "concat": "join them in order with nothing between them",
}


def how(compose_: Compose) -> str:
    """What a composing question asks, in words."""
    if compose_.function == "reduce":
        return _REDUCE.get(compose_.operation or "", "combine them")
    if compose_.function == "concatenate":
        separator = "\n" if compose_.separator is None else compose_.separator
        return f"join them in order, separated by {json.dumps(separator, ensure_ascii=False)}"
    if compose_.function == "sequence":
        return "list them in order as a JSON array"
    if compose_.function == "object_merge":
        return "merge them (JSON objects) into one JSON object, a later one's keys winning"
    return "give the last one"
