"""The one judge of a spec's answers: response text -> Answer (what votes match on) or a red flag.

require -> per field: extract (regex group, or JSON path in the response parsed as JSON) -> type ->
canonical steps -> allowed values (-> the state's shape for `next_state`). Any miss is a FORMAT red
flag; nothing is repaired or guessed, and the judge never sees the correct answer. The spec's
patterns (`require`, each `regex`) are matched with a time bound (`maker_cli.untrusted_regex`): a
reply one of them runs past it on is a `regex_timeout` red flag.

The key votes match on is, for a spec with one field (a question), the field's canonical text;
for several fields (a sequence step), the canonical JSON object of all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from maker_cli._types import JSONObject, JSONValue
from maker_cli.core.redflags import FORMAT, Answer, RedFlag, timeout_flag
from maker_cli.specs.canonical import CanonicalError, as_text, canonicalize
from maker_cli.specs.extract import parse_json_path, parse_json_response, type_matches
from maker_cli.specs.fields import (
    AnswerField,
    compile_pattern,
    json_type,
    same_value,
    short,
    typed_value,
    value_at,
)
from maker_cli.strict_json import dump_json
from maker_cli.untrusted_regex import PatternTimeout, UntrustedPattern

_NO_DOC = object()
NO_SHAPE = object()


def shape_problem(value: JSONValue, model: JSONValue, where: str = "next_state") -> str | None:
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


class AnswerJudge:
    """Judges responses against a spec's answer fields. Never raises on any text."""

    def __init__(
        self,
        fields: Mapping[str, AnswerField],
        *,
        require: str | None = None,
        shape_model: object = NO_SHAPE,  # a JSON value, or NO_SHAPE
    ) -> None:
        self.fields = dict(fields)
        self.single = len(self.fields) == 1 and "next_state" not in self.fields  # a step's answer is always a record
        self._paths = {n: parse_json_path(f.json_path) for n, f in self.fields.items() if f.json_path}
        self._regexes = {n: compile_pattern(f.regex, "regex") for n, f in self.fields.items() if f.regex}
        self._groups = {n: f.group for n, f in self.fields.items() if f.regex}
        self._require = compile_pattern(require, "require") if require else None
        self._shape_model = shape_model
        self._allowed: dict[str, list[JSONValue]] = {}
        for name, spec in self.fields.items():
            if spec.allowed is not None:  # canonical like the answers they are compared with
                self._allowed[name] = [self._canonical(name, v, text_key=self.single) for v in spec.allowed]

    def __call__(self, text: str) -> Answer | RedFlag:
        try:
            return self._judge(text)
        except PatternTimeout as exc:
            return timeout_flag(exc)
        except (RecursionError, ValueError, TypeError) as exc:  # defensive: a judge never raises
            return RedFlag(FORMAT, f"unreadable answer ({type(exc).__name__})")

    def _flag(self, name: str, detail: str) -> RedFlag:
        return RedFlag(FORMAT, detail if self.single else f"{name}: {detail}")

    def _judge(self, text: str) -> Answer | RedFlag:
        if not isinstance(text, str):
            return RedFlag(FORMAT, "response is not text")
        if self._require is not None and self._require.search(text) is None:
            return RedFlag(FORMAT, f"required pattern {self._require.pattern!r} not found")
        doc: object = _NO_DOC  # the response's JSON, read at the first JSON-path field
        values: JSONObject = {}
        for name, spec in self.fields.items():
            if name in self._paths:
                if doc is _NO_DOC:
                    doc = parse_json_response(text)
                if isinstance(doc, RedFlag):
                    return doc
                found, raw = value_at(doc, self._paths[name])
                if not found:
                    return self._flag(name, f"no {spec.json_path} in the response")
            else:
                raw = _regex_value(self._regexes[name], self._groups[name], text, spec.match == "first")
                if raw is None:
                    return self._flag(name, "answer pattern not found")
                try:
                    raw = typed_value(raw, spec.value_type or "str")
                except ValueError as exc:
                    return self._flag(name, str(exc))
            try:
                values[name] = self.finish(name, raw)
            except ValueError as exc:
                return self._flag(name, str(exc))
        if self.single:
            ((name, value),) = values.items()
            key = self._canonical(name, value, text_key=True)
            return Answer(key=key, value=value) if key else RedFlag(FORMAT, "empty answer")
        return Answer(key=dump_json(values), value=values)

    def finish(self, name: str, value: JSONValue) -> JSONValue:
        """Type check, canonical steps, allowed values and shape for one field. ValueError if not."""
        spec = self.fields[name]
        if not type_matches(value, spec.value_type):
            raise ValueError(f"{spec.json_path or name} is not a {spec.value_type} ({json_type(value) or 'null'})")
        if spec.value_type == "float":
            value = float(value)
        canonical = self._canonical(name, value, text_key=self.single)
        allowed = self._allowed.get(name)
        if allowed is not None and not any(same_value(canonical, a) for a in allowed):
            raise ValueError(f"answer {short(canonical)} is not an allowed value")
        if name == "next_state" and self._shape_model is not NO_SHAPE:
            problem = shape_problem(canonical, self._shape_model)
            if problem is not None:
                raise ValueError(f"shape differs from the initial state: {problem}")
        return value if self.single else canonical

    def _canonical(self, name: str, value: JSONValue, text_key: bool = False) -> JSONValue:
        """The field's canonical form: its steps on text; a question's key is always text."""
        steps = self.fields[name].canonical
        if self.single and (text_key or steps):
            value = as_text(value)
        if not steps or not isinstance(value, str):
            return value
        try:
            return canonicalize(value, steps)
        except CanonicalError as exc:
            raise ValueError(str(exc)) from None

    def key(self, values: Mapping[str, JSONValue]) -> str:
        """The vote key of already-finished field values (e.g. a reference solver's answer)."""
        if self.single:
            ((name, value),) = values.items()
            key: str = self._canonical(name, value, text_key=True)  # text, as a question's key always is
            return key
        return dump_json(dict(values))


def _regex_value(pattern: UntrustedPattern, group: str, text: str, first: bool) -> str | None:
    found = pattern.search(text) if first else pattern.last(text)
    return None if found is None else found.group(group)
