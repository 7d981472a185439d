"""Sequential task specs: a whole MDAP job — state, step prompt, answer, termination — in YAML.

A sequential spec describes one *step* as a microagent sees it: the state (and, optionally, the
piece of a long input the state points at), the step prompt made from it, how to read the action
and the next state out of a response, what counts as the same answer, which responses to discard,
and when the job is finished. `maker run task FILE` drives it with the one runner that also
drives Hanoi (see `maker_cli.tasks.sequence.SpecTask`).

Loading reuses `spec.py`: the same strict YAML loader (duplicate keys are errors), pydantic models
with `extra="forbid"`, errors that name the file and the field path, `{{name}}` plain templates,
and the `VotingSpec` / `RedFlagSpec` parts. What is new here:

- typed inputs (`type: str|int|float|bool|list|object`), so a list to sort can be an input;
- `initial_state`: any YAML value; a string that is exactly `{{input}}` takes the input's typed
  value, other strings are templates;
- `answer`: `action`, `next_state` and extra `fields`, each found by a regex group `value` or a
  JSON path, with a type, optional canonical steps (str) and optional allowed values;
- `termination`: exactly one of `steps` (fixed), `until_field` (a bool answer field) or
  `until_state` (a predicate from a fixed vocabulary — never code), plus `max_steps`;
- `chunks`: cut a long text input into pieces; the step sees the piece its state points at;
- `reference`: `package.module:function`, a Python solver for verification and the simulated
  model only (never the voting), imported with importlib when a task is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from maker_cli.specs.canonical import CanonicalError, CanonicalStep, canonicalize, load_json
from maker_cli.errors import UsageError
from maker_cli.specs.extract import ValueType, parse_json_path, type_matches
from maker_cli.specs.question import RedFlagSpec, VotingSpec, _compile, _Strict, load_model, parse_model
from maker_cli.specs.templates import check_template, is_name, placeholders

#: placeholders every step template may use besides the spec's inputs
STEP_PLACEHOLDERS = ("state", "step", "previous_action")
#: placeholders a spec with `chunks` may also use
CHUNK_PLACEHOLDERS = ("chunk_text", "chunks_total")
#: input names that would clash with the placeholders above or with what solvers receive
RESERVED_NAMES = frozenset({*STEP_PLACEHOLDERS, *CHUNK_PLACEHOLDERS, "chunks", "action", "next_state"})
#: default safety bound on steps for until_field / until_state specs
DEFAULT_MAX_STEPS = 100_000

_REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")


# --- typed values -------------------------------------------------------------------------------


def typed_value(raw: Any, type_: ValueType) -> Any:
    """`raw` (a YAML value, or the text of `--input name=...`) as a value of `type_`.

    Text is parsed strictly: ints as digits, bools as true/false, lists and objects as JSON.
    Raises ValueError when it is not a value of that type.
    """
    if type_ == "str":
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError(f"{_short(raw)} is not text (write it in quotes)")
        return str(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if type_ == "int" and _INT_TEXT.fullmatch(raw):
            return int(text)
        if type_ == "float":
            try:
                return float(canonicalize(text, ["number"]))
            except CanonicalError:
                raise ValueError(f"{_short(raw)} is not a number") from None
        if type_ == "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if type_ in ("list", "object"):
            try:
                raw = load_json(text)
            except ValueError:
                raise ValueError(f"{_short(raw)} is not JSON (a {type_} is written as JSON)") from None
    if not type_matches(raw, type_):
        raise ValueError(f"{_short(raw)} is not a {type_}")
    return float(raw) if type_ == "float" else raw


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type(value: Any) -> ValueType | None:
    """The declared-type name of a JSON value (None for null)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return None


# --- parts of a spec ----------------------------------------------------------------------------


class StepInputSpec(_Strict):
    """One declared input with a type. No default means `--input name=value` is required."""

    description: str = ""
    type: ValueType = "str"
    default: Any = None
    pattern: str | None = Field(None, description="str inputs: a regex the whole value must match")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value, "pattern")
        return value

    @model_validator(mode="after")
    def _typed_default(self) -> StepInputSpec:
        if self.pattern is not None and self.type != "str":
            raise ValueError("pattern applies to str inputs only")
        if self.default is not None:
            try:
                self.typed(self.default)
            except ValueError as exc:
                raise ValueError(f"default: {exc}") from None
        return self

    def typed(self, raw: Any) -> Any:
        value = typed_value(raw, self.type)
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise ValueError(f"{_short(value)} does not match the pattern {self.pattern!r}")
        return value

    def parse(self, name: str, raw: Any) -> Any:
        try:
            return self.typed(raw)
        except ValueError as exc:
            raise UsageError(f"input {name!r}: {exc}") from None


class FieldSpec(_Strict):
    """Where one part of the answer is: exactly one of `regex` (group `value`) or `json_path`."""

    regex: str | None = Field(None, description="a pattern with a named group (?P<value>...)")
    match: Literal["last", "first"] = Field("last", description="regex: which match counts")
    json_path: str | None = Field(None, description="e.g. next_state, result.move, moves[0]")
    type: ValueType | None = Field(None, description="the value's type (regex: default str; json: any)")
    canonical: list[CanonicalStep] = Field(default_factory=list, description="str values only")
    allowed: list[Any] | None = Field(None, description="the only values accepted")

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None and "value" not in _compile(value, "regex").groupindex:
            raise ValueError("the regex needs a named group (?P<value>...)")
        return value

    @field_validator("json_path")
    @classmethod
    def _json_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> FieldSpec:
        if (self.regex is None) == (self.json_path is None):
            raise ValueError("give exactly one of regex or json_path")
        if "match" in self.model_fields_set and self.regex is None:
            raise ValueError("match applies to regex only")
        if self.canonical and self.value_type not in ("str", None):
            raise ValueError(f"canonical steps apply to str values, not {self.value_type}")
        if self.allowed is not None:
            if not self.allowed:
                raise ValueError("allowed: list at least one value")
            for value in self.allowed:
                if self.value_type is not None and not type_matches(value, self.value_type):
                    raise ValueError(f"allowed: {value!r} is not a {self.value_type}")
        return self

    @property
    def value_type(self) -> ValueType | None:
        """The declared type; regex values are text unless a type says otherwise."""
        if self.type is None and self.regex is not None:
            return "str"
        return self.type


class StepAnswerSpec(_Strict):
    """The parts of one step's answer. Votes match on all of them together, canonically."""

    action: FieldSpec | None = None
    next_state: FieldSpec
    fields: dict[str, FieldSpec] = Field(default_factory=dict, description="extra answer fields, e.g. done")

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in value:
            if not is_name(name):
                raise ValueError(f"invalid field name {name!r} (a letter, then letters, digits or _)")
            if name in ("action", "next_state"):
                raise ValueError(f"{name!r} is not an extra field: declare it as answer.{name}")
        return value

    def parts(self) -> dict[str, FieldSpec]:
        """Every part by name: action (if declared), next_state, then the extra fields."""
        out = {"action": self.action} if self.action is not None else {}
        out["next_state"] = self.next_state
        out.update(self.fields)
        return out


class FieldValue(_Strict):
    path: str
    value: Any

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parse_json_path(value)
        return value


class FieldNumber(_Strict):
    path: str
    value: float

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parse_json_path(value)
        return value


PREDICATES = ("equals", "empty", "length_at_most", "field_equals", "field_at_least", "field_at_most", "all", "any")


class StatePredicate(_Strict):
    """A test on the state from a fixed vocabulary (exactly one per mapping); never code.

    equals: V — the state is V; empty: true — "", [] or {}; length_at_most: N — a text, list or
    object of at most N items; field_equals / field_at_least / field_at_most: {path, value} — the
    value at a JSON path (a.b[0]); all / any: a list of predicates.
    """

    equals: Any = None
    empty: Literal[True] | None = None
    length_at_most: int | None = Field(None, ge=0)
    field_equals: FieldValue | None = None
    field_at_least: FieldNumber | None = None
    field_at_most: FieldNumber | None = None
    all_: list[StatePredicate] | None = Field(None, alias="all", min_length=1)
    any_: list[StatePredicate] | None = Field(None, alias="any", min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_predicate(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a predicate is a mapping with one of: {', '.join(PREDICATES)}")
        unknown = [key for key in data if key not in PREDICATES]
        if unknown:
            raise ValueError(f"unknown predicate {unknown[0]!r} (known: {', '.join(PREDICATES)})")
        if len(data) != 1:
            raise ValueError(f"give exactly one predicate per mapping (got {', '.join(map(str, data)) or 'none'}); "
                             "combine several with all: [...] or any: [...]")
        return data

    def holds(self, state: Any) -> bool:
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
        return value >= test.value if kind == "field_at_least" else value <= test.value


class Termination(_Strict):
    """When the job is done: exactly one of steps, until_field or until_state (+ max_steps)."""

    steps: int | str | None = Field(None, description="a fixed number of steps, or '{{name}}' of an input")
    until_field: str | None = Field(None, description="a bool answer field: done once the decided answer says true")
    until_state: StatePredicate | None = Field(None, description="done once the state satisfies this")
    max_steps: int | None = Field(None, ge=1, description=f"safety bound for until_* (default {DEFAULT_MAX_STEPS:,})")

    @field_validator("steps", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
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


class ChunkSpec(_Strict):
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
    """The single-question red flags plus a structural check on next_state."""

    state_shape: bool = Field(
        True, description="next_state must keep the initial state's shape (same keys, same value types)"
    )


class SequentialSpec(_Strict):
    """A sequential MDAP job (`maker run task FILE`)."""

    name: str = Field(min_length=1)
    description: str = ""
    model: str | None = Field(None, description="default model when --model is not given")
    inputs: dict[str, StepInputSpec] = Field(default_factory=dict)
    initial_state: Any = Field(description="the state before the first step (any YAML value)")
    chunks: ChunkSpec | None = None
    system: str = ""
    user: str = Field(min_length=1)
    answer: StepAnswerSpec
    termination: Termination
    red_flags: StepRedFlagSpec = Field(default_factory=StepRedFlagSpec)
    voting: VotingSpec = Field(default_factory=VotingSpec)
    reference: str | None = Field(None, description="package.module:function, a solver for checks and the sim")
    sim_response: str | None = Field(None, description="the simulated model's reply, with {{next_state}} ...")

    @field_validator("system", "user", "sim_response")
    @classmethod
    def _template_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders(value)
        return value

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, list):
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {
                name: {} if item is None else {"description": item} if isinstance(item, str) else item
                for name, item in value.items()
            }
        return value

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, StepInputSpec]) -> dict[str, StepInputSpec]:
        for name in value:
            if not is_name(name):
                raise ValueError(f"invalid input name {name!r} (a letter, then letters, digits or _)")
            if name in RESERVED_NAMES:
                raise ValueError(f"input name {name!r} is reserved (it is a step placeholder)")
        return value

    @field_validator("reference")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not _REFERENCE.fullmatch(value):
            raise ValueError(f"{value!r} is not package.module:function (an importable module path)")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> SequentialSpec:
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


def _check(field: str, check: Any) -> None:
    try:
        check()
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def _check_state_templates(value: Any, inputs: list[str]) -> None:
    if isinstance(value, str):
        check_template(value, inputs)
    elif isinstance(value, list):
        for item in value:
            _check_state_templates(item, inputs)
    elif isinstance(value, dict):
        for item in value.values():
            _check_state_templates(item, inputs)


# --- state helpers ------------------------------------------------------------------------------


def value_at(value: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a JSON path such as `a.b[0]`."""
    for part in parse_json_path(path):
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return False, None
        elif not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: bools are not numbers, 1 == 1.0, lists and objects compare item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def shape_problem(value: Any, model: Any, where: str = "next_state") -> str | None:
    """Why `value` does not have the shape of `model` (same keys, same value types), or None.

    Lists may change length; their items must look like the model list's first item. An int is
    an acceptable float. Never raises on any JSON value.
    """
    stack = [(value, model, where)]
    while stack:
        value, model, where = stack.pop()
        expected = json_type(model)
        got = json_type(value)
        if expected == "float" and got == "int":
            continue
        if got != expected:
            return f"{where} is {got or 'null'}, expected {expected or 'null'}"
        if expected == "object":
            if value.keys() != model.keys():
                extra = sorted(set(value) - set(model))
                missing = sorted(set(model) - set(value))
                what = f"unexpected key {extra[0]!r}" if extra else f"missing key {missing[0]!r}"
                return f"{where}: {what}"
            stack.extend((value[k], model[k], f"{where}.{k}") for k in model)
        elif expected == "list" and model:
            stack.extend((item, model[0], f"{where}[{i}]") for i, item in enumerate(value))
    return None


# --- loading ------------------------------------------------------------------------------------


def load_sequential_spec(path: str | Path) -> SequentialSpec:
    """Read and validate a sequential spec; every problem is a SpecError naming the file and field."""
    return load_model(path, SequentialSpec)


def parse_sequential_spec(text: str, source: str = "<spec>") -> SequentialSpec:
    return parse_model(text, SequentialSpec, source)


def is_sequential_text(text: str) -> bool:
    """Whether spec text is a sequential spec (a mapping with `initial_state`). Text that does not
    read as YAML counts as single-question: that loader then reports the problem."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "initial_state" in data


def is_sequential_file(path: str | Path) -> bool:
    try:
        return is_sequential_text(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
