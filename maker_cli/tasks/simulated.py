"""What the simulated model answers for a spec: a correct response and well-formed wrong ones.

The simulated model needs, for each prompt, the response a correct model gives and responses that
are wrong but pass every red flag and the spec's own judge (otherwise a "wrong" sample would just
be discarded and voting would never be tested). Both spec kinds build them here from their answer
fields: `response_text` is the inverse of the judge's extraction, `wrong_candidates` walks nearby
values (other allowed values, a number one off, a changed digit or letter, then a suffix), and
`build_reference` keeps the first candidates the judge reads back as a different answer.

Only simulated providers read a `Reference`; the voting never sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal

from maker_cli._types import JSONObject, JSONValue
from maker_cli.core.redflags import Answer, RedFlag, RedFlagRules
from maker_cli.errors import SpecError
from maker_cli.providers.base import Completion, Reference
from maker_cli.providers.paraphrase import paraphrase
from maker_cli.specs.canonical import as_text
from maker_cli.specs.extract import PathPart, parse_json_path
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.templates import render
from maker_cli.strict_json import dump_json

_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*")  # no exponent: keep it readable
_MAX_LEAVES = 64
_CONFLICT = object()


def response_problem(fields: Mapping[str, AnswerField], template: str | None) -> str | None:
    """Why responses cannot be built for these fields without a `sim_response` template, or None."""
    if template is not None:
        return None
    if len(fields) > 1 and any(f.regex for f in fields.values()):
        return "sim_response is needed when the answer is read with regexes"
    values = dict.fromkeys(fields, 0)
    if len(fields) > 1 and build_document(values, fields) is None:
        return "sim_response is needed when answer JSON paths use list indexes or overlap"
    return None


def response_text(fields: Mapping[str, AnswerField], values: Mapping[str, JSONValue], template: str | None) -> str:
    """The response a model gives for these answer values: `template` with each `{{field}}`
    filled (JSON for JSON-path fields, text otherwise), else the value itself (one regex field), else
    the JSON object the paths imply."""
    if template is not None:
        texts = {name: dump_json(values[name]) if f.json_path else as_text(values[name]) for name, f in fields.items()}
        return render(template, texts)
    if len(fields) == 1 and next(iter(fields.values())).regex:
        return as_text(next(iter(values.values())))
    doc = build_document(values, fields)
    if doc is None:
        raise SpecError("cannot build a simulated response: give sim_response")
    return dump_json(doc)


def build_document(values: Mapping[str, JSONValue], fields: Mapping[str, AnswerField]) -> JSONValue | None:
    """The smallest JSON value holding every value at its field's path (list slots before an index
    are null), or None when two paths collide."""
    doc: JSONValue = None
    for name, value in values.items():
        doc = _put(doc, parse_json_path(fields[name].json_path or ""), value)
        if doc is _CONFLICT:
            return None
    return doc


def _put(node: JSONValue, parts: tuple[PathPart, ...], value: JSONValue) -> JSONValue:  # or _CONFLICT
    if not parts:
        return _CONFLICT if node is not None else value
    head, rest = parts[0], parts[1:]
    if isinstance(head, int):
        node = [] if node is None else node
        if not isinstance(node, list):
            return _CONFLICT
        node = node + [None] * (head + 1 - len(node))
        child = _put(node[head], rest, value)
    else:
        node = {} if node is None else node
        if not isinstance(node, dict):
            return _CONFLICT
        node = dict(node)
        child = _put(node.get(head), rest, value)
    if child is _CONFLICT:
        return _CONFLICT
    node[head] = child
    return node


# --- wrong answers ------------------------------------------------------------------------------


def wrong_candidates(
    expected: Mapping[str, JSONValue], variant: int, allowed: Mapping[str, Sequence[JSONValue]], order: Sequence[str]
) -> Iterator[JSONObject]:
    """Answers near `expected`, nearest first: per field in `order`, the other allowed values, then
    small natural changes of each leaf, then whole-value changes, then appended text."""
    names = [name for name in order if name in expected]
    for name in names:
        options = list(allowed.get(name) or ())
        for i in range(len(options)):
            yield {**expected, name: options[(variant + i) % len(options)]}
    for natural in (True, False):
        for name in names:
            for n, (path, leaf) in enumerate(_leaves(expected[name])):
                if n >= _MAX_LEAVES:
                    break
                for changed in _perturb(leaf, variant, natural):
                    yield {**expected, name: _replace(expected[name], path, changed)}
            if natural:
                yield from ({**expected, name: v} for v in _reshape(expected[name], variant))


def _leaves(value: JSONValue, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[tuple[PathPart, ...], JSONValue]]:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def _replace(value: JSONValue, path: tuple[PathPart, ...], leaf: object) -> JSONValue:
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, leaf)}
    assert isinstance(head, int)  # `_leaves` numbers the items of a list
    out = list(value)
    out[head] = _replace(value[head], rest, leaf)
    return out


def _reshape(value: object, variant: int) -> Iterator[JSONValue]:
    """Changes of a whole list or object (for answers whose leaves cannot change)."""
    if isinstance(value, list):
        yield [*value, variant]
    elif isinstance(value, dict):
        yield {**value, "wrong": variant}


def _perturb(value: object, variant: int, natural: bool) -> Iterator[str | int | float]:
    step = 1 + variant
    if isinstance(value, str):
        yield from _perturb_text(value, variant, natural)
    elif not natural:
        return
    elif isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield value + step
        yield value - step
    elif isinstance(value, float):
        yield value + step


def _perturb_text(text: str, variant: int, natural: bool) -> Iterator[str]:
    step = 1 + variant
    if not natural:
        yield f"{text}-{step}"
        yield text + _alpha(variant)
        return
    if _NUMBER_TEXT.fullmatch(text):
        yield format(Decimal(text.strip()) + step, "f")
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


def _alpha(n: int) -> str:
    """0 -> 'x', 1 -> 'y', 2 -> 'z', 3 -> 'xx', ...: a letters-only suffix unique per variant."""
    out = ""
    n += 1
    while n > 0:
        n, r = divmod(n - 1, 3)
        out = "xyz"[r] + out
    return out


# --- the reference ------------------------------------------------------------------------------


def build_reference(
    *,
    judge: Callable[[str], Answer | RedFlag],
    respond: Callable[[Mapping[str, JSONValue]], str],
    expected: Mapping[str, JSONValue],
    expected_key: str,
    rules: RedFlagRules | None,
    allowed: Mapping[str, Sequence[JSONValue]] = {},
    order: Sequence[str] = (),
    where: str = "sim_response",
    hint: str = "",
) -> Reference:
    """Correct and wrong response texts, each checked by the task's own judge and red-flag rules.

    The correct text must judge to `expected_key`; `wrong(variant)` is the first candidate that
    judges to a well-formed *different* answer and passes the rules. Variant 0 is fixed (the one
    every wrong sample gives in `errors=collide`). SpecError when neither can be built.
    """

    def problem(text: str, key: str | None) -> str | None:
        flag = rules.check(Completion(text, None, None, "stop", 0.0, None)) if rules else None
        if flag is not None:
            return f"is red-flagged ({flag.label})"
        result = judge(text)
        if isinstance(result, RedFlag):
            return f"is red-flagged ({result.label})"
        if key is not None and result.key != key:
            return f"parses to {result.key[:60]!r}, not {key[:60]!r}"
        return None

    correct = respond(expected)
    issue = problem(correct, expected_key)
    if issue is not None:
        raise SpecError(f"{where}: the simulated correct response {correct[:60]!r} {issue}{hint}")
    cache: dict[int, str] = {}
    values_of: dict[str, Mapping[str, JSONValue]] = {}  # a wrong response -> its answer values

    def wrong(variant: int) -> str:
        if variant not in cache:
            for candidate in wrong_candidates(expected, variant, allowed, order or list(expected)):
                try:
                    text = respond(candidate)
                except (SpecError, ValueError):
                    continue
                result = judge(text)
                if isinstance(result, Answer) and result.key != expected_key and problem(text, None) is None:
                    cache[variant] = text
                    values_of[text] = candidate
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

    def restate(variant: int | None, template: int) -> str:
        """The response with its text values paraphrased, if the judge still reads it; else as is."""
        plain = correct if variant is None else wrong(variant)
        values = expected if variant is None else values_of[plain]
        text = respond({name: paraphrase(v, template) if isinstance(v, str) else v for name, v in values.items()})
        return text if problem(text, None) is None else plain

    return Reference(correct=correct, wrong=wrong, restate=restate)
