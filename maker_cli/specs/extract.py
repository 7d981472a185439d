"""Answer extraction: find the answer in one response, or say why it is malformed.

Two modes, both strict (a miss is a FORMAT red flag; nothing is repaired or guessed):

- `RegexExtractor`: a regular expression with a named group `answer`. The *last* match wins by
  default (models often restate the question before answering); `first=True` takes the first.
- `JsonPathExtractor`: the response parsed as JSON (the whole response, or else the content of
  exactly one ```json fenced block), then a path such as `result.value` or `items[0].name`,
  then an optional type check (str, int, float, bool, list, object). No other repair: no
  trailing commas, single quotes, or JSON fished out of prose without a fence.

Extractors never raise on arbitrary text. Each also knows its inverse (`respond`): the response
text a model would give for a value. `build_reference` uses it to give the simulated model a
correct response and well-formed wrong ones, each checked against the task's own judge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from maker_cli.specs.canonical import CanonicalError, canonical_number, dump_json, load_json
from maker_cli.errors import SpecError, UsageError
from maker_cli.providers.base import Completion, Reference
from maker_cli.core.redflags import FORMAT, Answer, RedFlag, RedFlagRules
from maker_cli.specs.templates import render

ValueType = Literal["str", "int", "float", "bool", "list", "object"]
PathPart = str | int

_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*")  # no exponent: keep it readable
_FENCE = re.compile(r"```json[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_json_path(path: str) -> tuple[PathPart, ...]:
    """`result.items[0].name` -> ('result', 'items', 0, 'name'). Raises ValueError if malformed."""
    parts: list[PathPart] = []
    pos = 0
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if match is None or (match.group(0).startswith(".") and pos == 0):
            raise ValueError(f"invalid JSON path {path!r} at character {pos + 1} (use a.b, a[0].b)")
        if match.group(1) is not None:
            if pos > 0 and not match.group(0).startswith("."):
                raise ValueError(f"invalid JSON path {path!r}: a '.' must separate field names")
            parts.append(match.group(1))
        else:
            parts.append(int(match.group(2)))
        pos = match.end()
    if not parts:
        raise ValueError("empty JSON path")
    return tuple(parts)


def format_path(parts: tuple[PathPart, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def type_matches(value: Any, type_: ValueType | None) -> bool:
    """JSON typing: bool is not an int; an int is an acceptable float."""
    if type_ is None:
        return True
    if type_ == "bool":
        return isinstance(value, bool)
    if type_ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ == "list":
        return isinstance(value, list)
    if type_ == "object":
        return isinstance(value, dict)
    return isinstance(value, str)


def parse_json_response(text: str) -> Any | RedFlag:
    """The response as JSON: the whole text, else the single ```json fenced block in it."""
    try:
        return load_json(text)
    except ValueError:
        pass
    blocks = _FENCE.findall(text)
    if not blocks:
        return RedFlag(FORMAT, "response is not JSON and has no ```json block")
    if len(blocks) > 1:
        return RedFlag(FORMAT, f"{len(blocks)} ```json blocks (expected one)")
    try:
        return load_json(blocks[0])
    except ValueError:
        return RedFlag(FORMAT, "the ```json block is not valid JSON")


@dataclass(frozen=True)
class RegexExtractor:
    """The `answer` group of the last (or first) match of `pattern` in the response."""

    pattern: str
    first: bool = False
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = re.compile(self.pattern)  # re.error for a bad pattern: the spec reports it
        if "answer" not in compiled.groupindex:
            raise ValueError("the regex needs a named group (?P<answer>...)")
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, text: str) -> str | RedFlag:
        if not isinstance(text, str):
            return RedFlag(FORMAT, "response is not text")
        if self.first:
            found = self._compiled.search(text)
        else:
            found = None
            for found in self._compiled.finditer(text):  # noqa: B007 - keep the last match
                pass
        if found is None:
            return RedFlag(FORMAT, "answer pattern not found")
        value = found.group("answer")
        if value is None:
            return RedFlag(FORMAT, "answer group did not take part in the match")
        return value

    def respond(self, value: Any, template: str) -> str:
        """A response carrying `value`: `template` with `{{answer}}` replaced by the value's text."""
        return render(template, {"answer": value if isinstance(value, str) else dump_json(value)})


@dataclass(frozen=True)
class JsonPathExtractor:
    """The value at `path` in the response parsed as JSON, optionally of one `type`."""

    path: str
    type: ValueType | None = None
    _parts: tuple[PathPart, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", parse_json_path(self.path))

    def __call__(self, text: str) -> Any | RedFlag:
        if not isinstance(text, str):
            return RedFlag(FORMAT, "response is not text")
        current = parse_json_response(text)
        if isinstance(current, RedFlag):
            return current
        for depth, part in enumerate(self._parts):
            where = format_path(self._parts[: depth + 1])
            if isinstance(part, int):
                if not isinstance(current, list) or part >= len(current):
                    return RedFlag(FORMAT, f"no {where} in the response")
            elif not isinstance(current, dict) or part not in current:
                return RedFlag(FORMAT, f"no {where} in the response")
            current = current[part]
        if not type_matches(current, self.type):
            return RedFlag(FORMAT, f"{self.path} is not a {self.type}")
        if self.type == "float":
            current = float(current)
        return current

    def respond(self, value: Any, template: str | None = None) -> str:
        """A response carrying `value`: the JSON object the path implies (or `template` with
        `{{answer}}` replaced by the value as JSON)."""
        if template is not None:
            return render(template, {"answer": dump_json(value)})
        return dump_json(build_json(self._parts, value))


def build_json(parts: tuple[PathPart, ...], value: Any) -> Any:
    """The smallest JSON value in which `parts` leads to `value` (list slots before it are null)."""
    for part in reversed(parts):
        if isinstance(part, int):
            value = [None] * part + [value]
        else:
            value = {part: value}
    return value


# --- responses for the simulated model -----------------------------------------------------------


def typed_expected(text: str, type_: ValueType | None) -> Any:
    """The expected answer text as the extractor would return it (regex mode: `type_` None).

    Raises UsageError when the text is not of the declared type.
    """
    try:
        if type_ in (None, "str"):
            return text
        if type_ == "int" and re.fullmatch(r"\s*-?\d+\s*", text):
            return int(text)
        if type_ == "float":
            return float(canonical_number(text))
        if type_ == "bool" and text.strip().lower() in ("true", "false"):
            return text.strip().lower() == "true"
        if type_ in ("list", "object"):
            value = load_json(text)
            if type_matches(value, type_):
                return value
    except (ValueError, CanonicalError):
        pass
    raise UsageError(f"expected answer {text[:40]!r} is not a valid {type_}")


def build_reference(
    *,
    judge: Callable[[str], Answer | RedFlag],
    extractor: RegexExtractor | JsonPathExtractor,
    template: str | None,
    expected: Any,
    expected_key: str,
    allowed: Sequence[Any] = (),
    rules: RedFlagRules | None = None,
) -> Reference:
    """Correct and wrong response texts for the simulated model, checked by the task's own judge.

    The correct text must judge to `expected_key`; `wrong(variant)` is the first candidate (other
    allowed values, a nearby number, a changed digit or letter, a suffix) that judges to a
    well-formed *different* answer and passes the red-flag patterns. Variant 0 is fixed. Raises
    SpecError when the spec's own rules reject the correct text or admit no wrong answer.
    """
    hint = ""
    if template is None and isinstance(extractor, RegexExtractor):
        template = "{{answer}}"
        hint = " (set sim_response to a reply your answer rules accept, with {{answer}} in it)"

    def respond(value: Any) -> str:
        return extractor.respond(value, template)  # type: ignore[arg-type]

    def problem(text: str) -> str | None:
        flag = rules.check(Completion(text, None, None, "stop", 0.0, None)) if rules else None
        if flag is not None:
            return f"is red-flagged ({flag.label})"
        result = judge(text)
        return f"is red-flagged ({result.label})" if isinstance(result, RedFlag) else None

    correct = respond(expected)
    issue = problem(correct)
    got = judge(correct)
    if issue is None and isinstance(got, Answer) and got.key != expected_key:
        issue = f"parses to {got.key[:40]!r}, not {expected_key[:40]!r}"
    if issue is not None:
        raise SpecError(f"sim_response: the simulated correct response {correct[:60]!r} {issue}{hint}")

    cache: dict[int, str] = {}

    def wrong(variant: int) -> str:
        if variant not in cache:
            for candidate in _wrong_candidates(expected, variant, allowed):
                text = respond(candidate)
                result = judge(text)
                if isinstance(result, Answer) and result.key != expected_key and problem(text) is None:
                    cache[variant] = text
                    break
            else:
                if variant == 0:
                    raise SpecError(
                        f"cannot build a well-formed wrong answer for {expected_key[:40]!r} under this "
                        "spec's answer rules (list answer.allowed, or set sim_response)"
                    )
                cache[variant] = wrong(0)
        return cache[variant]

    wrong(0)
    return Reference(correct=correct, wrong=wrong)


def _wrong_candidates(value: Any, variant: int, allowed: Sequence[Any]) -> Iterator[Any]:
    for i in range(len(allowed)):
        yield allowed[(variant + i) % len(allowed)]
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, (int, float)):
        yield value + 1 + variant
    elif isinstance(value, list):
        yield [*value, variant]
    elif isinstance(value, dict):
        yield {**value, "wrong": variant}
    elif isinstance(value, str):
        yield from _wrong_strings(value, variant)


def _wrong_strings(text: str, variant: int) -> Iterator[str]:
    step = 1 + variant
    if _NUMBER_TEXT.fullmatch(text):
        number = Decimal(text.strip()) + step
        yield format(number, "f")
    digits = re.search(r"(\d+)(\D*)\Z", text)
    if digits and len(digits.group(1)) <= 1000:
        run = digits.group(1)  # same width, so fixed-width formats (dates, codes) stay valid
        changed = str((int(run) + step) % 10 ** len(run)).zfill(len(run))
        if changed != run:
            yield text[: digits.start(1)] + changed + digits.group(2)
    letters = re.search(r"([A-Za-z])([^A-Za-z]*)\Z", text)
    if letters:
        c = letters.group(1)
        base = ord("a") if c.islower() else ord("A")
        shifted = chr(base + (ord(c) - base + 1 + variant % 25) % 26)
        yield text[: letters.start(1)] + shifted + letters.group(2)
    yield f"{text}-{step}"
    yield text + _alpha(variant)


def _alpha(n: int) -> str:
    """0 -> 'x', 1 -> 'y', 2 -> 'z', 3 -> 'xx', ...: a letters-only suffix unique per variant."""
    out = ""
    n += 1
    while n > 0:
        n, r = divmod(n - 1, 3)
        out = "xyz"[r] + out
    return out
