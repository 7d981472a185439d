"""Sequence specs (`kind: sequence`): a whole MDAP job — state, step prompt, answer, termination — in YAML.

A sequence spec describes one *step* as a microagent sees it: the state (and, optionally, the
piece of a long input the state points at), the step prompt made from it, how to read the action
and the next state out of a response, what counts as the same answer, which responses to discard,
and when the job is finished. `maker run task FILE` drives it with the one runner that also
drives Hanoi (`maker_cli.tasks.sequence.SequenceTask`).

It shares its parts with question specs (`maker_cli.specs.fields`): typed inputs, answer fields
(here `action`, `next_state` and extra `fields`), red flags and voting defaults. What is its own:

- `initial_state`: any YAML value; a string that is exactly `{{input}}` takes the input's typed
  value, other strings are templates;
- `termination`: exactly one of `steps` (fixed), `until_field` (a bool answer field) or
  `until_state` (a predicate from a fixed vocabulary — never code), plus `max_steps`;
- `chunks`: cut a long text input into pieces; the step sees the piece its state points at;
- `reference`: a solver for verification and the simulated model only (never the voting): the
  name of a registered solver (maker's own: addition, bubble_sort, count_word; or one installed
  under the `maker_cli.solvers` entry-point group), or `FILE.py:function` next to the spec, which
  runs only when the user trusts the spec's code (`--trust-spec-code`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from maker_cli._types import JSONValue
from maker_cli.specs.extract import parse_json_path
from maker_cli.specs.fields import (
    AnswerField,
    RedFlagSpec,
    SpecBase,
    Strict,
    same_value,
    value_at,
)
from maker_cli.specs.templates import check_template, is_name, placeholders

#: placeholders every step template may use besides the spec's inputs
STEP_PLACEHOLDERS = ("state", "step", "previous_action")
#: placeholders a spec with `chunks` may also use
CHUNK_PLACEHOLDERS = ("chunk_text", "chunks_total")
#: input names that would clash with the placeholders above or with what solvers receive
RESERVED_NAMES = frozenset({*STEP_PLACEHOLDERS, *CHUNK_PLACEHOLDERS, "chunks", "action", "next_state"})
#: default safety bound on steps for until_field / until_state specs
DEFAULT_MAX_STEPS = 100_000

# a registered solver name, FILE.py:function next to the spec, or maker's own module path (old specs)
_REFERENCE = re.compile(r"[A-Za-z_][\w-]*|[\w.\-/]+\.py:[A-Za-z_]\w*|maker_cli(?:\.[A-Za-z_]\w*)+:[A-Za-z_]\w*")


class StepAnswerSpec(Strict):
    """The parts of one step's answer. Votes match on all of them together, canonically."""

    action: AnswerField | None = None
    next_state: AnswerField
    fields: dict[str, AnswerField] = Field(default_factory=dict, description="extra answer fields, e.g. done")

    @model_validator(mode="after")
    def _canonical_on_text(self) -> StepAnswerSpec:
        for name, spec in self.parts().items():
            where = name if name in ("action", "next_state") else f"fields.{name}"
            if spec.matching is not None:
                raise ValueError(
                    f"{where}.canonical: a matching step ({spec.matching.kind}) applies to question specs: "
                    "a step's answer carries its state on, so it must match exactly (`set` and the text steps do)"
                )
            if spec.canonical and spec.value_type not in ("str", None):
                raise ValueError(f"{where}: canonical steps apply to str values, not {spec.value_type}")
        return self

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, AnswerField]) -> dict[str, AnswerField]:
        for name in value:
            if not is_name(name):
                raise ValueError(f"invalid field name {name!r} (a letter, then letters, digits or _)")
            if name in ("action", "next_state"):
                raise ValueError(f"{name!r} is not an extra field: declare it as answer.{name}")
        return value

    def parts(self) -> dict[str, AnswerField]:
        """Every part by name: action (if declared), next_state, then the extra fields."""
        out = {"action": self.action} if self.action is not None else {}
        out["next_state"] = self.next_state
        out.update(self.fields)
        return out


class FieldValue(Strict):
    """A JSON path into the state and a value to compare with."""

    path: str
    value: JSONValue

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parse_json_path(value)
        return value


class FieldNumber(FieldValue):
    value: float


PREDICATES = ("equals", "empty", "length_at_most", "field_equals", "field_at_least", "field_at_most", "all", "any")


class StatePredicate(Strict):
    """A test on the state from a fixed vocabulary (exactly one per mapping); never code.

    equals: V — the state is V; empty: true — "", [] or {}; length_at_most: N — a text, list or
    object of at most N items; field_equals / field_at_least / field_at_most: {path, value} — the
    value at a JSON path (a.b[0]); all / any: a list of predicates.
    """

    equals: JSONValue = None
    empty: Literal[True] | None = None
    length_at_most: int | None = Field(None, ge=0)
    field_equals: FieldValue | None = None
    field_at_least: FieldNumber | None = None
    field_at_most: FieldNumber | None = None
    all_: list[StatePredicate] | None = Field(None, alias="all", min_length=1)
    any_: list[StatePredicate] | None = Field(None, alias="any", min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_predicate(cls, data: object) -> object:
        if not isinstance(data, dict):
            raise ValueError(f"a predicate is a mapping with one of: {', '.join(PREDICATES)}")
        unknown = [key for key in data if key not in PREDICATES]
        if unknown:
            raise ValueError(f"unknown predicate {unknown[0]!r} (known: {', '.join(PREDICATES)})")
        if len(data) != 1:
            raise ValueError(
                f"give exactly one predicate per mapping (got {', '.join(map(str, data)) or 'none'}); "
                "combine several with all: [...] or any: [...]"
            )
        return data

    def holds(self, state: JSONValue) -> bool:
        """Whether the predicate holds for `state`. Never raises on any JSON value."""
        kind = next(iter(self.model_fields_set))
        if kind == "equals":
            return same_value(state, self.equals)
        if kind == "empty":
            return isinstance(state, (str, list, dict)) and len(state) == 0
        if kind == "length_at_most":
            return isinstance(state, (str, list, dict)) and len(state) <= (self.length_at_most or 0)
        if kind in ("all_", "any_"):
            parts = self.all_ if kind == "all_" else self.any_
            results = (p.holds(state) for p in parts or ())
            return all(results) if kind == "all_" else any(results)
        test = getattr(self, kind)
        found, value = value_at(state, test.path)
        if not found:
            return False
        if kind == "field_equals":
            return same_value(value, test.value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        bound: float = test.value  # a FieldNumber's
        return value >= bound if kind == "field_at_least" else value <= bound


class Termination(Strict):
    """When the job is done: exactly one of steps, until_field or until_state (+ max_steps)."""

    steps: int | str | None = Field(None, description="a fixed number of steps, or '{{name}}' of an input")
    until_field: str | None = Field(None, description="a bool answer field: done once the decided answer says true")
    until_state: StatePredicate | None = Field(None, description="done once the state satisfies this")
    max_steps: int | None = Field(None, ge=1, description=f"safety bound for until_* (default {DEFAULT_MAX_STEPS:,})")

    @field_validator("steps", mode="before")
    @classmethod
    def _not_bool(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("a whole number of steps, not a boolean")
        return value

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be at least 1")
        if isinstance(value, str) and not re.fullmatch(r"\{\{\s*[A-Za-z][A-Za-z0-9_]*\s*\}\}", value):
            raise ValueError("a whole number, or one placeholder such as '{{chunks_total}}' or '{{n}}'")
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> Termination:
        given = [name for name in ("steps", "until_field", "until_state") if getattr(self, name) is not None]
        if len(given) != 1:
            got = f" (got {', '.join(given)})" if given else ""
            raise ValueError(f"give exactly one of steps, until_field or until_state{got}")
        if self.steps is not None and self.max_steps is not None:
            raise ValueError("max_steps applies to until_field / until_state only (steps is the bound)")
        return self

    @property
    def bound(self) -> int:
        return self.max_steps or DEFAULT_MAX_STEPS


class ChunkSpec(Strict):
    """Cut a long text input into pieces; each step sees the piece its state points at."""

    input: str = Field(description="a declared str input holding the text")
    by: Literal["words", "lines", "chars"] = "words"
    size: int = Field(ge=1, description="words, lines or characters per piece")
    index: str = Field(description="the state path holding the 0-based number of the piece to show")

    @field_validator("index")
    @classmethod
    def _index(cls, value: str) -> str:
        parse_json_path(value)
        return value

    def cut(self, text: str) -> list[str]:
        """The pieces of `text`: whole words / lines, or characters, `size` at a time."""
        if self.by == "chars":
            return [text[i : i + self.size] for i in range(0, len(text), self.size)]
        items = text.split() if self.by == "words" else [line for line in text.splitlines() if line.strip()]
        sep = " " if self.by == "words" else "\n"
        return [sep.join(items[i : i + self.size]) for i in range(0, len(items), self.size)]


class StepRedFlagSpec(RedFlagSpec):
    """The single-question red flags (length, patterns, a preset and its opt-in checks) plus a
    structural check on next_state."""

    state_shape: bool = Field(
        True, description="next_state must keep the initial state's shape (same keys, same value types)"
    )


class SequenceSpec(SpecBase):
    """A sequential MDAP job (`maker run task FILE`)."""

    RESERVED_INPUTS: ClassVar[frozenset[str]] = RESERVED_NAMES

    kind: Literal["sequence"] = "sequence"
    initial_state: JSONValue = Field(description="the state before the first step (any YAML value)")
    chunks: ChunkSpec | None = None
    answer: StepAnswerSpec
    termination: Termination
    red_flags: StepRedFlagSpec = Field(default_factory=StepRedFlagSpec)
    reference: str | None = Field(None, description="a registered solver, or FILE.py:function next to the spec")

    @field_validator("reference")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not _REFERENCE.fullmatch(value):
            raise ValueError(
                f"{value!r} is neither a registered solver name (e.g. addition) nor FILE.py:function "
                "(a Python file next to the spec)"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> SequenceSpec:
        names = [*self.inputs, *STEP_PLACEHOLDERS, *(CHUNK_PLACEHOLDERS if self.chunks else ())]
        for field in ("system", "user"):
            _check(field, lambda f=field: check_template(getattr(self, f), names))
        if "state" not in placeholders(self.system) + placeholders(self.user):
            raise ValueError("user: the step prompt must show the state: put {{state}} in system or user")
        _check("initial_state", lambda: _check_state_templates(self.initial_state, list(self.inputs)))
        if self.chunks is not None:
            spec = self.inputs.get(self.chunks.input)
            if spec is None or spec.type != "str":
                raise ValueError(f"chunks.input: {self.chunks.input!r} must be a declared str input")
        if self.sim_response is not None:
            parts = list(self.answer.parts())
            _check("sim_response", lambda: check_template(self.sim_response or "", parts))
            missing = [p for p in parts if p not in placeholders(self.sim_response)]
            if missing:
                raise ValueError(f"sim_response: must contain {{{{{missing[0]}}}}}")
        self._check_termination()
        return self

    def _check_termination(self) -> None:
        term = self.termination
        if isinstance(term.steps, str):
            name = placeholders(term.steps)[0]
            chunks = ("chunks_total",) if self.chunks else ()
            if name not in (*self.inputs, *chunks):
                known = ", ".join([*self.inputs, *chunks]) or "none"
                raise ValueError(f"termination.steps: unknown placeholder {{{{{name}}}}} (declared: {known})")
        if term.until_field is not None:
            spec = self.answer.fields.get(term.until_field)
            if spec is None:
                declared = ", ".join(self.answer.fields) or "none"
                raise ValueError(
                    f"termination.until_field: {term.until_field!r} is not an answer field (declared: {declared}); "
                    "add it under answer.fields with type bool"
                )
            if spec.value_type != "bool":
                raise ValueError(f"termination.until_field: answer field {term.until_field!r} must have type bool")


def _check(field: str, check: Callable[..., object]) -> None:  # called with no arguments
    try:
        check()
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def _check_state_templates(value: object, inputs: list[str]) -> None:
    if isinstance(value, str):
        check_template(value, inputs)
    elif isinstance(value, list):
        for item in value:
            _check_state_templates(item, inputs)
    elif isinstance(value, dict):
        for item in value.values():
            _check_state_templates(item, inputs)
