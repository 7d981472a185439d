"""The parts every task spec is made of: typed inputs, answer fields, red flags, voting defaults.

A question spec has one answer field (`answer`); a sequence spec has `action`, `next_state` and
extra `fields`. Both declare them with the same `AnswerField` and are judged by the same
`maker_cli.specs.judge.AnswerJudge`. All models are strict: unknown keys are errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from maker_cli._types import JSONObject, JSONValue, OptionValue
from maker_cli.core.race import VotingMethod
from maker_cli.core.redflags import (
    MAX_JSON_FIELDS,
    MAX_ONE_OF,
    SELF_CORRECTION_PHRASES,
    RedFlagChecks,
    RedFlagPreset,
    RedFlagRules,
    phrase_problem,
)
from maker_cli.errors import UsageError
from maker_cli.specs.canonical import CanonicalError, CanonicalStep, canonicalize
from maker_cli.specs.extract import PathPart, ValueType, parse_json_path, type_matches
from maker_cli.specs.matching import EmbeddingMatch, NumberMatch, split_steps
from maker_cli.specs.prompt_file import PromptRecord, prompt_sha256
from maker_cli.specs.templates import is_name, placeholders
from maker_cli.strict_json import load_json
from maker_cli.untrusted_regex import PatternTimeout, UntrustedPattern

_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
ANSWER_GROUPS = ("answer", "value")  # the named regex group an answer field is read from


class Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def compile_pattern(pattern: str, what: str) -> UntrustedPattern:
    """`pattern` compiled as every pattern from a spec is (`maker_cli.untrusted_regex`: the `regex`
    module, a time bound on each match); ValueError naming `what` when it does not compile."""
    return UntrustedPattern(pattern, what)


def short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- typed values -------------------------------------------------------------------------------


def typed_value(raw: JSONValue, type_: ValueType) -> JSONValue:
    """`raw` (a YAML value, or the text of `--input name=...`) as a value of `type_`.

    Text is parsed strictly: ints as digits, bools as true/false, lists and objects as JSON.
    Raises ValueError when it is not a value of that type.
    """
    if type_ == "str":
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError(f"{short(raw)} is not text (write it in quotes)")
        return str(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if type_ == "int" and _INT_TEXT.fullmatch(raw):
            return int(text)
        if type_ == "float":
            try:
                return float(canonicalize(text, ["number"]))
            except CanonicalError:
                raise ValueError(f"{short(raw)} is not a number") from None
        if type_ == "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if type_ in ("list", "object"):
            try:
                raw = load_json(text)
            except ValueError:
                raise ValueError(f"{short(raw)} is not JSON (a {type_} is written as JSON)") from None
    if not type_matches(raw, type_):
        raise ValueError(f"{short(raw)} is not a {type_}")
    return float(raw) if type_ == "float" else raw


def json_type(value: object) -> ValueType | None:
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


def same_value(a: object, b: object) -> bool:
    """JSON equality: bools are not numbers, 1 == 1.0, lists and objects compare item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def value_at(value: JSONValue, path: str | tuple[PathPart, ...]) -> tuple[bool, JSONValue]:
    """(found, value) at a JSON path such as `a.b[0]` (or its parsed parts)."""
    parts = parse_json_path(path) if isinstance(path, str) else path
    for part in parts:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return False, None
        elif not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


# --- inputs -------------------------------------------------------------------------------------


class InputSpec(Strict):
    """One declared input with a type. No default means the user must give it (`--input name=value`)."""

    description: str = ""
    type: ValueType = "str"
    default: JSONValue = None
    pattern: str | None = Field(None, description="str inputs: a regex the whole value must match")

    @field_validator("default", mode="before")
    @classmethod
    def _no_bare_bool(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("write the default in quotes (YAML reads yes/no/true/false as booleans)")
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value, "pattern")
        return value

    @model_validator(mode="after")
    def _typed_default(self) -> InputSpec:
        if self.pattern is not None and self.type != "str":
            raise ValueError("pattern applies to str inputs only")
        if self.default is not None:
            try:
                self.typed(self.default)
            except ValueError as exc:
                raise ValueError(f"default: {exc}") from None
        return self

    def typed(self, raw: JSONValue) -> JSONValue:
        value = typed_value(raw, self.type)
        if self.pattern is not None and isinstance(value, str):
            try:
                matched = compile_pattern(self.pattern, "pattern").fullmatch(value)
            except PatternTimeout as exc:
                raise ValueError(f"{short(value)}: {exc}") from None
            if matched is None:
                raise ValueError(f"{short(value)} does not match the pattern {self.pattern!r}")
        return value


def normalise_inputs(value: object) -> object:
    """`inputs:` shorthands: a list of names, `name:` alone, or `name: a description`."""
    if value is None:
        return {}
    if isinstance(value, list):
        bad = [name for name in value if not isinstance(name, str)]
        if bad:
            raise ValueError(f"a list of inputs holds their names, not {short(bad[0])}")
        return {name: {} for name in value}
    if isinstance(value, dict):
        return {
            name: {} if item is None else {"description": item} if isinstance(item, str) else item
            for name, item in value.items()
        }
    return value


def check_input_names(names: Mapping[str, object], reserved: frozenset[str] = frozenset()) -> None:
    for name in names:
        if not is_name(name):
            raise ValueError(f"invalid input name {name!r} (a letter, then letters, digits or _)")
        if name in reserved:
            raise ValueError(f"input name {name!r} is reserved (it is a step placeholder)")


def input_values(declared: Mapping[str, InputSpec], given: Mapping[str, JSONValue], task: str) -> JSONObject:
    """Declared defaults overlaid with `given`, each typed; UsageError for unknown, missing or bad ones."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        takes = ", ".join(declared) or "no inputs"
        raise UsageError(f"unknown input {unknown[0]!r} (task {task!r} takes: {takes})")
    values: JSONObject = {}
    for name, spec in declared.items():
        raw = given.get(name, spec.default)
        if raw is None:
            raise UsageError(f"missing input {name!r} (give --input {name}=VALUE)")
        try:
            values[name] = spec.typed(raw)
        except ValueError as exc:
            raise UsageError(f"input {name!r}: {exc}") from None
    return values


# --- answers ------------------------------------------------------------------------------------


class AnswerField(Strict):
    """Where one part of the answer is: exactly one of `regex` (a named group `answer` or `value`)
    or `json_path`, with an optional type, canonical steps and allowed values.

    A matching step at the end of `canonical` (`number: {tolerance: ...}`, `embedding: {...}`,
    maker_cli.specs.matching) is read into `matching`; `canonical` keeps the text steps."""

    regex: str | None = Field(None, description="a pattern with a named group (?P<answer>...) or (?P<value>...)")
    match: Literal["last", "first"] = Field("last", description="regex: which match counts")
    json_path: str | None = Field(None, description="e.g. label, result.value, items[0].name")
    type: ValueType | None = Field(None, description="the value's type (regex: default str; json: any)")
    canonical: list[CanonicalStep] = Field(default_factory=list, description="str values only")
    allowed: list[JSONValue] | None = Field(None, description="the only values accepted")
    ranked: int | None = Field(
        None, ge=2, le=20, description="borda: replies rank up to this many candidates, one per line, best first"
    )
    matching: NumberMatch | EmbeddingMatch | None = Field(
        None, description="the matching step of canonical (read from there; not written by hand)"
    )

    @model_validator(mode="before")
    @classmethod
    def _matching_step(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if "matching" in data:
            raise ValueError("matching: unknown field (a matching step is written last in canonical)")
        if "canonical" in data:
            steps, rule = split_steps(data["canonical"])
            data = {**data, "canonical": steps}
            if rule is not None:
                data["matching"] = rule
        return data

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None and not set(ANSWER_GROUPS) & set(compile_pattern(value, "regex").groupindex):
            raise ValueError("the regex needs a named group (?P<answer>...) or (?P<value>...)")
        return value

    @field_validator("json_path")
    @classmethod
    def _json_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> AnswerField:
        if (self.regex is None) == (self.json_path is None):
            raise ValueError("give exactly one of regex or json_path")
        if "match" in self.model_fields_set and self.regex is None:
            raise ValueError("match applies to regex only")
        if self.matching is not None and self.allowed is not None:
            raise ValueError("allowed: does not go with a matching step (number with a tolerance, embedding)")
        if self.ranked is not None and self.regex is None:
            raise ValueError("ranked applies to regex only (one candidate per line)")
        if self.ranked is not None and self.matching is not None:
            raise ValueError("ranked does not go with a matching step (number with a tolerance, embedding)")
        if self.allowed is not None:
            if not self.allowed:
                raise ValueError("allowed: list at least one value")
            for value in self.allowed:
                if isinstance(value, bool) and self.value_type != "bool":
                    raise ValueError(
                        f"allowed: write {value!r} in quotes (YAML reads yes/no/on/off/true/false as booleans)"
                    )
                if self.value_type is not None and not type_matches(value, self.value_type):
                    raise ValueError(f"allowed: {value!r} is not a {self.value_type}")
        return self

    @property
    def value_type(self) -> ValueType | None:
        """The declared type; regex values are text unless a type says otherwise."""
        if self.type is None and self.regex is not None:
            return "str"
        return self.type

    @property
    def group(self) -> str:
        """The regex group the value is read from."""
        if self.regex is not None and "answer" in compile_pattern(self.regex, "regex").groupindex:
            return "answer"
        return "value"


# --- red flags and voting -----------------------------------------------------------------------


class RedFlagSpec(Strict):
    """Responses to discard before parsing. Unset `max_output_tokens` = the run's setting.

    `preset` (paper, relaxed, strict; `red_flags: strict` is short for `red_flags: {preset: strict}`)
    bundles the opt-in checks below (`maker_cli.core.redflags.PRESETS`); each check given here
    replaces the preset's (`self_correction: false`, `min_output_chars: 0` or
    `max_empty_line_share: 1` turn one off). Unset `preset`: the run's (`--red-flags`), else paper.
    """

    preset: RedFlagPreset | None = Field(None, description="paper (length + format, the default), relaxed or strict")
    max_output_tokens: int | None = Field(None, ge=1)
    must_not_match: list[str] = Field(default_factory=list)
    require: str | None = Field(None, description="a pattern the raw response must contain (a search)")
    min_output_chars: int | None = Field(
        None, ge=0, le=100_000, description="at least this many letters or digits (0: off)"
    )
    max_empty_line_share: float | None = Field(
        None, ge=0, le=1, allow_inf_nan=False, description="at most this share of blank lines (1: off)"
    )
    self_correction: bool | list[str] | None = Field(
        None, description="true: the built-in phrases ('Wait,', 'Actually,', ...); or a list of phrases; false: off"
    )
    starts_with: str | None = Field(None, min_length=1, description="the stripped reply starts with this text")
    ends_with: str | None = Field(None, min_length=1, description="the stripped reply ends with this text")
    json_required: list[str] | None = Field(
        None, max_length=MAX_JSON_FIELDS, description="a JSON object (or one ```json block) with these fields"
    )
    one_of: list[str] | None = Field(
        None, min_length=1, max_length=MAX_ONE_OF, description="the whole stripped reply is one of these"
    )

    @model_validator(mode="before")
    @classmethod
    def _preset_shorthand(cls, data: object) -> object:
        return {"preset": data} if isinstance(data, str) else data

    @field_validator("must_not_match")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for value in values:
            compile_pattern(value, "pattern")
        return values

    @field_validator("require")
    @classmethod
    def _require(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value, "pattern")
        return value

    @field_validator("min_output_chars", "max_empty_line_share", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("a number, not a boolean")
        return value

    @field_validator("self_correction", mode="before")
    @classmethod
    def _phrases(cls, value: object) -> object:
        if value is None or isinstance(value, bool):
            return value
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError("true (the built-in phrases), false, or a list of phrases in quotes")
        problem = phrase_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("json_required", "one_of", mode="before")
    @classmethod
    def _texts(cls, value: object) -> object:
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, str):
                    raise ValueError(f"write {item!r} in quotes (a list of texts)")
                if not item.strip() or item != item.strip():
                    raise ValueError(f"{item!r}: no blank entries, no leading or trailing whitespace")
        return value

    def checks(self) -> RedFlagChecks:
        """The checks this spec sets itself (on top of a preset)."""
        phrases = self.self_correction
        if isinstance(phrases, bool):
            correction: tuple[str, ...] | None = SELF_CORRECTION_PHRASES if phrases else ()
        else:
            correction = tuple(phrases) if phrases is not None else None
        return RedFlagChecks(
            min_output_chars=self.min_output_chars,
            max_empty_line_share=self.max_empty_line_share,
            self_correction=correction,
            starts_with=self.starts_with,
            ends_with=self.ends_with,
            json_required=tuple(self.json_required) if self.json_required is not None else None,
            one_of=tuple(self.one_of) if self.one_of is not None else None,
        )

    def rules(self, default_max_output_tokens: int | None = 750) -> RedFlagRules:
        """The rules this spec's own red flags give (its preset, else paper; the simulated model's
        replies are checked with these)."""
        limit = self.max_output_tokens if self.max_output_tokens is not None else default_max_output_tokens
        return RedFlagRules.preset(
            self.preset, max_output_tokens=limit, must_not_match=tuple(self.must_not_match), checks=self.checks()
        )


class EarlyStopSpec(Strict):
    """Early stopping: decide for the leader once min_votes valid votes are in and its samples' mean
    confidence is at least min_confidence (docs: voting methods)."""

    min_votes: int = Field(ge=1)
    min_confidence: float = Field(gt=0, le=1)


class VotingSpec(Strict):
    """Voting defaults for this task; anything unset falls back to the run's settings."""

    k: int | None = Field(None, ge=1)
    method: VotingMethod | None = Field(None, description="ahead-by-k (the default), first-to-k, cisc or borda")
    max_samples: int | None = Field(None, ge=1)
    first_temperature: float | None = Field(None, ge=0, le=2)
    temperature: float | None = Field(None, ge=0, le=2)
    early_stop: EarlyStopSpec | None = None

    @model_validator(mode="after")
    def _cap(self) -> VotingSpec:
        if self.k is not None and self.max_samples is not None and self.max_samples < self.k:
            raise ValueError(f"max_samples ({self.max_samples}) must be at least k ({self.k})")
        return self


def spec_settings(model: str | None, voting: VotingSpec, red_flags: RedFlagSpec) -> dict[str, OptionValue]:
    """What a spec sets for a job (the 'spec' layer of the settings merge); unset values left out."""
    values = {
        "model": model,
        "k": voting.k,
        "method": voting.method,
        "early_stop_votes": voting.early_stop.min_votes if voting.early_stop is not None else None,
        "early_stop_confidence": voting.early_stop.min_confidence if voting.early_stop is not None else None,
        "max_samples": voting.max_samples,
        "first_temperature": voting.first_temperature,
        "temperature": voting.temperature,
        "max_output_tokens": red_flags.max_output_tokens,
        "must_not_match": tuple(red_flags.must_not_match) or None,
        "red_flags": red_flags.preset,
        "red_flag_checks": None if (checks := red_flags.checks()).is_empty else checks,
    }
    return {name: value for name, value in values.items() if value is not None}


class SpecBase(Strict):
    """What every kind of spec has: a name, typed inputs, the prompt templates, voting defaults and
    the simulated model's reply; and where it was read from."""

    RESERVED_INPUTS: ClassVar[frozenset[str]] = frozenset()

    name: str = Field(min_length=1)
    description: str = ""
    model: str | None = Field(None, description="default model when --model is not given")
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    system: str = ""
    user: str = Field(min_length=1)
    voting: VotingSpec = Field(default_factory=VotingSpec)
    sim_response: str | None = Field(
        None, description="the simulated model's reply, with {{answer}} / {{next_state}} ..."
    )

    if TYPE_CHECKING:  # each kind declares its own (QuestionSpec: RedFlagSpec; SequenceSpec: StepRedFlagSpec)
        red_flags: RedFlagSpec

    _source: str = PrivateAttr("<spec>")
    _sha256: str | None = PrivateAttr(None)
    _prompt: PromptRecord | None = PrivateAttr(None)  # a prompt file used instead of system/user

    @field_validator("system", "user", "sim_response")
    @classmethod
    def _template_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders(value)  # TemplateError (a ValueError) for {{a.b}}, {{ x | f }}, ...
        return value

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: object) -> object:
        return normalise_inputs(value)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        check_input_names(value, cls.RESERVED_INPUTS)
        return value

    @property
    def source(self) -> str:
        """The file this spec was read from (as given); `"<spec>"` for a spec parsed from text."""
        return self._source

    @property
    def sha256(self) -> str | None:
        return self._sha256

    @property
    def prompt_file(self) -> PromptRecord | None:
        """The prompt file that replaced this spec's system/user templates, if any."""
        return self._prompt

    def prompt_record(self) -> PromptRecord:
        """What a run stores about its prompt: name, hash, source and the two templates."""
        if self._prompt is not None:
            return self._prompt
        return {
            "name": "spec",
            "sha256": prompt_sha256(self.system, self.user),
            "source": self._source,
            "system": self.system,
            "user": self.user,
        }

    def settings(self) -> dict[str, OptionValue]:
        """The spec's layer of the job settings (model, voting, red-flag limits)."""
        return spec_settings(self.model, self.voting, self.red_flags)
