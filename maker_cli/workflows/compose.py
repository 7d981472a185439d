"""Composition: the pure functions that make a workflow's final result from its node results.

`compose(function, results, operation=..., separator=...)` takes the node results named by the
spec's `compose.nodes` (in that order) and returns one JSON value. Every function needs at least one
result; a composition that cannot be made raises `ComposeError` (a usage error, exit 2) with one
line that names the function and, where one is to blame, the node and its value (cut to 60
characters).

The functions:

- `identity`: exactly one result, whose value is the result (more or fewer is an error that says
  how many there are).
- `concatenate`: the results' answers (their text) joined with `separator` (default a newline).
- `sequence`: a JSON array of the values, in order.
- `object_merge`: when every value is a JSON object, the objects merged left to right, later keys
  winning (a shallow merge: a key's value is replaced, not merged). When no value is an object, the
  object `{node id: value}` of every result (a later result of the same id wins). A mix of the two
  is an error naming the first node whose value is not an object.
- `last_only`: the last result's value.
- `reduce` with an `operation`:
  - `sum`, `multiply`: of numbers. A number is an int or a float (a bool is not a number); a string
    that is a plain decimal number (`"42"`, `"-7"`, `"4.5"`, `"1e3"`, surrounding spaces allowed) is
    read as that int or float. When every value is an int the result is the exact int; otherwise
    it is a float: `sum` adds exactly with `math.fsum` (one rounding, so 0.1 ten times is 1.0),
    `multiply` rounds at each step.
  - `max`, `min`: of numbers (as for `sum`), the first of the largest / smallest, as given (an int
    stays an int).
  - `and`, `or`: of booleans: `true` / `false`, the strings "true" / "false" in any case (surrounding
    spaces allowed) and the ints 0 and 1. Every value is checked, even when the result is known early.
  - `concat`: when every value is a JSON array, the arrays concatenated; otherwise the answers (text)
    joined with nothing between them.
- `llm`: a voted question over the node results; the workflow runner asks it, not this module
  (`compose` raises `ComposeError` for it).

Values come from models and are untrusted: nothing is evaluated, every step is linear in the size of
the values, numbers must be finite, and an integer (read or computed) may have at most
`MAX_INTEGER_DIGITS` digits so that a product cannot grow without bound and any result can be
printed.

`check_compose(function, operation, separator)` is what the spec validator calls: it raises
`ValueError` for a function, operation or separator that does not fit together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

from maker_cli._types import JSONValue
from maker_cli.errors import UsageError

ComposeFunction = Literal["identity", "concatenate", "sequence", "object_merge", "last_only", "reduce", "llm"]
ReduceOperation = Literal["sum", "multiply", "max", "min", "and", "or", "concat"]

COMPOSE_FUNCTIONS: tuple[str, ...] = get_args(ComposeFunction)
REDUCE_OPERATIONS: tuple[str, ...] = get_args(ReduceOperation)

#: the most digits an integer may have, read or computed (under Python's int/str limit of 4300)
MAX_INTEGER_DIGITS = 4000
_MAX_INTEGER_BITS = math.floor(MAX_INTEGER_DIGITS * math.log2(10))
#: how much of a value an error message shows
_PREVIEW_CHARS = 60

_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)

Number = int | float


class NodeKind(StrEnum):
    """What a workflow node is: one voted question, or a sequence spec's run."""

    QUESTION = "question"
    SEQUENCE = "sequence"


@dataclass(frozen=True)
class NodeResult:
    """One node's result, as composers receive it."""

    id: str
    kind: NodeKind
    answer: str  # the result as text
    value: JSONValue  # the typed value: the parsed answer, or a sequence node's final state


class ComposeError(UsageError):
    """A composition that cannot be made from the node results: one line naming the function and the node."""


# --------------------------------------------------------------------------- checking a spec


def _problem(function: str, operation: str | None, separator: str | None) -> str | None:
    """What does not fit in a compose section, or None when it does."""
    if function not in COMPOSE_FUNCTIONS:
        return f"compose function must be one of {', '.join(COMPOSE_FUNCTIONS)}, not {_preview(function)}"
    if function == "reduce":
        if operation is None:
            return f"compose function reduce needs an operation: one of {', '.join(REDUCE_OPERATIONS)}"
        if operation not in REDUCE_OPERATIONS:
            return f"reduce operation must be one of {', '.join(REDUCE_OPERATIONS)}, not {_preview(operation)}"
    elif operation is not None:
        return f"an operation ({_preview(operation)}) is for the reduce function only, not {function}"
    if separator is not None and function != "concatenate":
        return f"a separator is for the concatenate function only, not {function}"
    return None


def check_compose(function: str, operation: str | None = None, separator: str | None = None) -> None:
    """Raise ValueError when `function`, `operation` and `separator` (None: not given) do not fit together:
    an unknown function, a reduce without an operation or with an unknown one, an operation for
    another function, a separator for a function other than concatenate."""
    problem = _problem(function, operation, separator)
    if problem is not None:
        raise ValueError(problem)


# --------------------------------------------------------------------------- composing


def compose(
    function: str, results: Sequence[NodeResult], *, operation: str | None = None, separator: str = "\n"
) -> JSONValue:
    """The final result of `function` over `results` (in order); see the module's docstring."""
    problem = _problem(function, operation, None)
    if problem is not None:
        raise ComposeError(problem)
    if function == "llm":
        raise ComposeError("llm composition is a voted question; the runner handles it")
    name = f"reduce {operation}" if function == "reduce" else function
    if not results and function != "identity":  # identity says how many it got
        raise ComposeError(f"compose {name}: no node results to compose")
    if function == "reduce":
        assert operation is not None  # _problem checked it
        return _REDUCERS[operation](name, results)
    if function == "concatenate":
        return separator.join(r.answer for r in results)
    return _FUNCTIONS[function](name, results)


def _identity(name: str, results: Sequence[NodeResult]) -> JSONValue:
    if len(results) != 1:
        raise ComposeError(f"compose {name}: needs exactly one node result, got {len(results)}")
    return results[0].value


def _sequence(name: str, results: Sequence[NodeResult]) -> JSONValue:
    return [r.value for r in results]


def _last_only(name: str, results: Sequence[NodeResult]) -> JSONValue:
    return results[-1].value


def _object_merge(name: str, results: Sequence[NodeResult]) -> JSONValue:
    objects = [r for r in results if isinstance(r.value, dict)]
    if not objects:
        return {r.id: r.value for r in results}
    merged: dict[str, JSONValue] = {}
    for r in results:
        if not isinstance(r.value, dict):
            raise _bad(name, r, "is not a JSON object (object_merge merges objects)")
        merged.update(r.value)
    return merged


_FUNCTIONS: dict[str, Callable[[str, Sequence[NodeResult]], JSONValue]] = {
    "identity": _identity,
    "sequence": _sequence,
    "last_only": _last_only,
    "object_merge": _object_merge,
}


# --------------------------------------------------------------------------- reduce


def _sum(name: str, results: Sequence[NodeResult]) -> JSONValue:
    numbers = _numbers(name, results)
    ints = [n for n in numbers if isinstance(n, int)]
    if len(ints) == len(numbers):
        return _checked_int(name, sum(ints))
    try:
        return math.fsum(numbers)
    except OverflowError:
        raise ComposeError(f"compose {name}: the sum is too large for a float") from None


def _multiply(name: str, results: Sequence[NodeResult]) -> JSONValue:
    numbers = _numbers(name, results)
    ints = [n for n in numbers if isinstance(n, int)]
    if len(ints) == len(numbers):
        if 0 in ints:
            return 0
        product = 1
        for n in ints:  # checked at each step, so each step is bounded
            product = _checked_int(name, product * n)
        return product
    try:
        result = math.prod(float(n) for n in numbers)
    except OverflowError:
        raise ComposeError(f"compose {name}: a number is too large for a float") from None
    if not math.isfinite(result):
        raise ComposeError(f"compose {name}: the product is too large for a float")
    return result


def _max(name: str, results: Sequence[NodeResult]) -> JSONValue:
    return max(_numbers(name, results))


def _min(name: str, results: Sequence[NodeResult]) -> JSONValue:
    return min(_numbers(name, results))


def _and(name: str, results: Sequence[NodeResult]) -> JSONValue:
    return all(_booleans(name, results))


def _or(name: str, results: Sequence[NodeResult]) -> JSONValue:
    return any(_booleans(name, results))


def _concat(name: str, results: Sequence[NodeResult]) -> JSONValue:
    if all(isinstance(r.value, list) for r in results):
        joined: list[JSONValue] = []
        for r in results:
            joined.extend(r.value)
        return joined
    return "".join(r.answer for r in results)


_REDUCERS: dict[str, Callable[[str, Sequence[NodeResult]], JSONValue]] = {
    "sum": _sum,
    "multiply": _multiply,
    "max": _max,
    "min": _min,
    "and": _and,
    "or": _or,
    "concat": _concat,
}


def _numbers(name: str, results: Sequence[NodeResult]) -> list[Number]:
    return [_number(name, r) for r in results]


def _number(name: str, result: NodeResult) -> Number:
    """The value of `result` as a finite int or float: an int, a float or a decimal string."""
    value = result.value
    number: Number
    if isinstance(value, bool):
        raise _bad(name, result, "is a boolean, not a number")
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_INTEGER_DIGITS:
            raise _bad(name, result, f"is not a number of at most {MAX_INTEGER_DIGITS} digits")
        if _INTEGER.fullmatch(text):
            number = int(text)
        elif _DECIMAL.fullmatch(text):
            number = float(text)
        else:
            raise _bad(name, result, "is not a number")
    else:
        raise _bad(name, result, "is not a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise _bad(name, result, "is not a finite number")
    if isinstance(number, int) and number.bit_length() > _MAX_INTEGER_BITS:
        raise _bad(name, result, f"has more than {MAX_INTEGER_DIGITS} digits")
    return number


def _checked_int(name: str, number: int) -> int:
    if number.bit_length() > _MAX_INTEGER_BITS:
        raise ComposeError(f"compose {name}: the result has more than {MAX_INTEGER_DIGITS} digits")
    return number


def _booleans(name: str, results: Sequence[NodeResult]) -> list[bool]:
    return [_boolean(name, r) for r in results]


def _boolean(name: str, result: NodeResult) -> bool:
    """The value of `result` as a bool: a bool, 0 or 1, or "true" / "false" in any case."""
    value = result.value
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and len(value) <= 64:
        word = value.strip().lower()
        if word in ("true", "false"):
            return word == "true"
    raise _bad(name, result, "is not a boolean (true, false, 0 or 1)")


# --------------------------------------------------------------------------- messages


def _bad(name: str, result: NodeResult, why: str) -> ComposeError:
    return ComposeError(f"compose {name}: node {_preview(result.id)} has {_preview(result.value)}, which {why}")


def _preview(value: JSONValue) -> str:
    """`value` as one line of at most 60 characters (repr-like), reading no more of it than that."""
    parts: list[str] = []
    budget = [_PREVIEW_CHARS + 1]

    def put(text: str) -> bool:
        """Add text; False once the budget is spent (the caller stops)."""
        parts.append(text[: budget[0]])
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(item: JSONValue) -> bool:
        if isinstance(item, str):
            return put(repr(item[: budget[0]]))
        if isinstance(item, bool) or item is None or isinstance(item, float):
            return put(repr(item))
        if isinstance(item, int):
            if item.bit_length() > 256:
                return put(f"<an integer of {item.bit_length()} bits>")
            return put(str(item))
        if isinstance(item, list | tuple):
            if not put("["):
                return False
            for i, element in enumerate(item):
                if (i and not put(", ")) or not walk(element):
                    return False
            return put("]")
        if isinstance(item, dict):
            if not put("{"):
                return False
            for i, (key, element) in enumerate(item.items()):
                if (i and not put(", ")) or not walk(key) or not put(": ") or not walk(element):
                    return False
            return put("}")
        return put(f"<{type(item).__name__}>")

    walk(value)
    text = "".join(parts)
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"
