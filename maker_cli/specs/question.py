"""YAML task specs: one voted question, declared instead of coded.

A spec names its inputs, the prompt templates that use them, how to find the answer in a response
(regex or JSON path), how to canonicalise it into the key votes match on, which responses to
red-flag, and voting defaults. `load_spec(path)` reads it with a safe YAML loader into strict
pydantic models (unknown fields are errors); every error is a SpecError naming the file and the
field path, e.g. `examples/x.yaml: voting.k: Input should be greater than or equal to 1`.

The sub-models (`AnswerSpec`, `RedFlagSpec`, `VotingSpec`, `InputSpec`) and `AnswerJudge` are
independent of `TaskSpec` so that sequential step specs can reuse them.

The optional `expected` template is read only by the simulated model (`reference`) and by
calibration (`expected_key`); the judge never sees it, so voting stays honest.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from maker_cli.specs.canonical import CanonicalError, CanonicalStep, canonical_key, canonicalize
from maker_cli.errors import SpecError, UsageError
from maker_cli.specs.extract import (
    JsonPathExtractor,
    RegexExtractor,
    ValueType,
    build_reference,
    parse_json_path,
    typed_expected,
)
from maker_cli.providers.base import Reference
from maker_cli.core.redflags import FORMAT, Answer, RedFlag, RedFlagRules
from maker_cli.core.step import Judge
from maker_cli.specs.templates import check_template, is_name, placeholders, render

Extractor = RegexExtractor | JsonPathExtractor
_M = TypeVar("_M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid {what} {pattern!r}: {exc}") from None


class InputSpec(_Strict):
    """One declared input. No default means the user must give it (`--input name=value`)."""

    description: str = ""
    default: str | None = None

    @field_validator("default", mode="before")
    @classmethod
    def _scalar_default(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("write the default in quotes (YAML reads yes/no/true/false as booleans)")
        return str(value) if isinstance(value, (int, float)) else value


class AnswerSpec(_Strict):
    """Where the answer is in a response: exactly one of `regex` or `json_path`."""

    regex: str | None = Field(None, description="a pattern with a named group (?P<answer>...)")
    match: Literal["last", "first"] = Field("last", description="regex: which match counts")
    json_path: str | None = Field(None, description="e.g. label, result.value, items[0].name")
    type: ValueType | None = Field(None, description="json_path: the JSON type the value must have")
    allowed: list[Any] | None = Field(None, description="the only answers accepted (after canonicalisation)")

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None and "answer" not in _compile(value, "regex").groupindex:
            raise ValueError("the regex needs a named group (?P<answer>...)")
        return value

    @field_validator("json_path")
    @classmethod
    def _json_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, values: list[Any] | None) -> list[Any] | None:
        if values is None:
            return None
        for value in values:
            if isinstance(value, bool):
                raise ValueError(f"write {value!r} in quotes (YAML reads yes/no/on/off/true/false as booleans)")
            if not isinstance(value, (str, int, float)):
                raise ValueError(f"allowed values are strings or numbers, not {value!r}")
        return values

    @model_validator(mode="after")
    def _one_mode(self) -> AnswerSpec:
        if (self.regex is None) == (self.json_path is None):
            raise ValueError("give exactly one of regex or json_path")
        if self.type is not None and self.json_path is None:
            raise ValueError("type applies to json_path only")
        if "match" in self.model_fields_set and self.regex is None:
            raise ValueError("match applies to regex only")
        if self.type == "bool" and self.allowed:
            raise ValueError("allowed makes no sense with type bool")
        return self

    def extractor(self) -> Extractor:
        if self.regex is not None:
            return RegexExtractor(self.regex, first=self.match == "first")
        return JsonPathExtractor(self.json_path or "", self.type)


class RedFlagSpec(_Strict):
    """Responses to discard before parsing. Unset `max_output_tokens` = the run's setting."""

    max_output_tokens: int | None = Field(None, ge=1)
    must_not_match: list[str] = Field(default_factory=list)
    require: str | None = Field(None, description="a pattern the raw response must contain (re.search)")

    @field_validator("must_not_match")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for value in values:
            _compile(value, "pattern")
        return values

    @field_validator("require")
    @classmethod
    def _require(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value, "pattern")
        return value

    def rules(self, default_max_output_tokens: int | None = 750) -> RedFlagRules:
        limit = self.max_output_tokens if self.max_output_tokens is not None else default_max_output_tokens
        return RedFlagRules(max_output_tokens=limit, must_not_match=tuple(self.must_not_match))


class VotingSpec(_Strict):
    """Voting defaults for this task; anything unset falls back to the run's settings."""

    k: int | None = Field(None, ge=1)
    max_samples: int | None = Field(None, ge=1)
    first_temperature: float | None = Field(None, ge=0, le=2)
    temperature: float | None = Field(None, ge=0, le=2)

    @model_validator(mode="after")
    def _cap(self) -> VotingSpec:
        if self.k is not None and self.max_samples is not None and self.max_samples < self.k:
            raise ValueError(f"max_samples ({self.max_samples}) must be at least k ({self.k})")
        return self


@dataclass(frozen=True)
class AnswerJudge:
    """require -> extract -> canonicalise -> allowed: an Answer, or a FORMAT red flag. Never raises."""

    extractor: Extractor
    steps: tuple[str, ...] = ()
    allowed: frozenset[str] | None = None
    require: re.Pattern[str] | None = None

    def __call__(self, text: str) -> Answer | RedFlag:
        if not isinstance(text, str):
            return RedFlag(FORMAT, "response is not text")
        if self.require is not None and self.require.search(text) is None:
            return RedFlag(FORMAT, f"required pattern {self.require.pattern!r} not found")
        value = self.extractor(text)
        if isinstance(value, RedFlag):
            return value
        key = canonical_key(value, self.steps)
        if isinstance(key, RedFlag):
            return key
        if self.allowed is not None and key not in self.allowed:
            return RedFlag(FORMAT, f"answer {key[:40]!r} is not an allowed value")
        return Answer(key=key, value=value)


def build_judge(answer: AnswerSpec, steps: list[str], red_flags: RedFlagSpec | None = None) -> AnswerJudge:
    """The judge for one answer: reusable by any spec that has these three parts."""
    allowed = None
    if answer.allowed is not None:
        allowed = frozenset(canonicalize(value, steps) for value in answer.allowed)
    require = re.compile(red_flags.require) if red_flags is not None and red_flags.require else None
    return AnswerJudge(answer.extractor(), tuple(steps), allowed, require)


class TaskSpec(_Strict):
    """A single voted question (`maker vote --task FILE`)."""

    name: str = Field(min_length=1)
    description: str = ""
    model: str | None = Field(None, description="default model when --model is not given")
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    system: str = ""
    user: str = Field(min_length=1)
    answer: AnswerSpec
    canonical: list[CanonicalStep] = Field(default_factory=list)
    red_flags: RedFlagSpec = Field(default_factory=RedFlagSpec)
    voting: VotingSpec = Field(default_factory=VotingSpec)
    expected: str | None = Field(None, description="template of the correct answer (sim/calibration only)")
    sim_response: str | None = Field(None, description="simulated response text with {{answer}}")

    @field_validator("system", "user", "expected", "sim_response")
    @classmethod
    def _template_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders(value)  # TemplateError (a ValueError) for {{a.b}}, {{ x | f }}, ...
        return value

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, list):  # a plain list of names
            return {name: {} for name in value}
        if isinstance(value, dict):
            out = {}
            for name, item in value.items():  # `name:` alone, or `name: a description`
                out[name] = {} if item is None else {"description": item} if isinstance(item, str) else item
            return out
        return value

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for name in value:
            if not is_name(name):
                raise ValueError(f"invalid input name {name!r} (a letter, then letters, digits or _)")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> TaskSpec:
        for field in ("system", "user", "expected"):
            template = getattr(self, field)
            if template is not None:
                try:
                    check_template(template, self.inputs)
                except ValueError as exc:
                    raise ValueError(f"{field}: {exc}") from None
        if self.sim_response is not None:
            try:
                check_template(self.sim_response, ["answer"])
            except ValueError as exc:
                raise ValueError(f"sim_response: {exc}") from None
            if "answer" not in placeholders(self.sim_response):
                raise ValueError("sim_response: must contain {{answer}}")
        if self.answer.allowed is not None:
            keys = set()
            for value in self.answer.allowed:
                try:
                    keys.add(canonicalize(value, self.canonical))
                except CanonicalError as exc:
                    raise ValueError(f"answer.allowed: {value!r} fails canonicalisation: {exc}") from None
            if len(keys) < 2:
                raise ValueError("answer.allowed: needs at least two different values")
        return self

    # --- using a spec -------------------------------------------------------------------------

    def input_values(self, inputs: Mapping[str, object]) -> dict[str, str]:
        """Declared defaults overlaid with `inputs`; UsageError for unknown or missing names."""
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            takes = ", ".join(self.inputs) or "no inputs"
            raise UsageError(f"unknown input {unknown[0]!r} (task {self.name!r} takes: {takes})")
        values = {name: spec.default for name, spec in self.inputs.items() if spec.default is not None}
        values.update({name: str(value) for name, value in inputs.items()})
        for name in self.inputs:
            if name not in values:
                raise UsageError(f"missing input {name!r} (give --input {name}=VALUE)")
        return values

    def render(self, inputs: Mapping[str, object]) -> tuple[str, str]:
        """The (system, user) prompt texts for these inputs."""
        values = self.input_values(inputs)
        return render(self.system, values), render(self.user, values)

    def judge(self) -> Judge:
        """require + extraction + canonicalisation (+ allowed) -> Answer(key, value) or RedFlag."""
        return build_judge(self.answer, list(self.canonical), self.red_flags)

    def red_flag_rules(self, default_max_output_tokens: int | None = 750) -> RedFlagRules:
        """Length and must-not-match rules; an unset spec limit takes `default_max_output_tokens`."""
        return self.red_flags.rules(default_max_output_tokens)

    def expected_value(self, inputs: Mapping[str, object]) -> Any | None:
        """The expected answer as the extractor would return it, or None when not available."""
        if self.expected is None:
            return None
        text = render(self.expected, self.input_values(inputs))
        if not text.strip():
            return None
        return typed_expected(text, self.answer.type if self.answer.json_path else None)

    def expected_key(self, inputs: Mapping[str, object]) -> str | None:
        """The canonical key of the expected answer (for checking a decision after the vote)."""
        value = self.expected_value(inputs)
        if value is None:
            return None
        try:
            return canonicalize(value, self.canonical)
        except CanonicalError as exc:
            raise UsageError(f"expected answer {str(value)[:40]!r}: {exc}") from None

    def reference(self, inputs: Mapping[str, object]) -> Reference | None:
        """Correct and wrong responses for the simulated model, or None without an expected answer.

        Both are checked against this spec's own judge and red-flag patterns: the correct text
        parses to the expected key, every wrong text to a different, well-formed answer.
        """
        value = self.expected_value(inputs)
        if value is None:
            return None
        return build_reference(
            judge=self.judge(),
            extractor=self.answer.extractor(),
            template=self.sim_response,
            expected=value,
            expected_key=self.expected_key(inputs) or "",
            allowed=self.answer.allowed or (),
            rules=self.red_flag_rules(None),
        )


# --- loading ------------------------------------------------------------------------------------


class _SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects duplicate keys (a silently ignored field is a bug)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def load_spec(path: str | Path) -> TaskSpec:
    """Read and validate a YAML task spec. Every problem is a SpecError naming the file."""
    return load_model(path, TaskSpec)


def load_model(path: str | Path, model: type[_M]) -> _M:
    """Load any strict spec model from a YAML file (TaskSpec, or a step spec built on these parts)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{source}: no such file") from None
    except UnicodeDecodeError:
        raise SpecError(f"{source}: not UTF-8 text") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read ({exc.strerror or exc})") from None
    return parse_model(text, model, source)


def parse_model(text: str, model: type[_M], source: str = "<spec>") -> _M:
    """Validate YAML text into `model`; `source` names it in errors."""
    try:
        data = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{source}: YAML syntax error{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: YAML error: {exc}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"{source}: a spec is a mapping of fields (name, user, answer, ...), not {got}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_errors(exc, source, model)) from None


def describe_errors(exc: ValidationError, source: str, model: type[BaseModel]) -> str:
    """'file: field.path: message (and N more)' for the first error."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    message = str(first["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if first["type"] == "extra_forbidden":
        known = _known_fields(model, loc[:-1])
        message = "unknown field" + (f" (known: {', '.join(known)})" if known else "")
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {path}: {message}{more}" if path else f"{source}: {message}{more}"


def _known_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation

