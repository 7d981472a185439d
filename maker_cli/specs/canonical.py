"""Canonicalisation: the declared steps that turn an extracted answer into the key votes match on.

Votes match exactly on the canonical key, so two samples that mean the same thing in the task's
own terms ("42.0" and "42" under `number`) must become the same string. Steps run in the order the
spec lists them. A step that cannot apply (`json` on text that is not JSON, `number` on text that
is not a number) is a *format* red flag: the sample is discarded, never guessed at.

Steps:
- `strip`: remove leading and trailing whitespace.
- `collapse_whitespace`: every run of whitespace becomes one space (ends are kept; add `strip`).
- `lowercase`: `str.lower()`.
- `json`: parse as JSON and dump with sorted keys and compact separators.
- `number`: parse a decimal number (optional sign, digits, optional fraction and exponent;
  surrounding whitespace allowed) and print it canonically: no exponent, no trailing zeros,
  "-0" is "0". No thousands separators, no words, no NaN or infinity.
- `set`: an order-insensitive list. The text is a JSON list when it starts with `[`, else items
  separated by commas or line breaks; each item is stripped, empty items are dropped, non-text
  JSON items become their canonical JSON text ("1, 2" and `[1, 2]` match). Duplicates count once
  (it is a set). The key is the JSON list of the distinct items in sorted order:
  "c, b, a" and "a, b, c" are both `["a","b","c"]`. No items at all cannot be canonicalised.

Two more steps *match* answers instead of rewriting them (`maker_cli.specs.matching`): `number`
with a tolerance and `embedding`. They are written as one-key mappings in the same list and run
after every text step here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Context, Decimal, InvalidOperation
from typing import Literal

from maker_cli.strict_json import dump_json, load_json

CanonicalStep = Literal["strip", "collapse_whitespace", "lowercase", "json", "number", "set"]

_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_MAX_EXPONENT = 10_000  # "1e999999" would print a million digits: treat as out of range


class CanonicalError(ValueError):
    """A value a step cannot canonicalise; the judge turns it into a FORMAT red flag."""


def as_text(value: object) -> str:
    """The text of an extracted value: strings as they are, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    return dump_json(value)


def canonical_json(text: str) -> str:
    try:
        return dump_json(load_json(text))
    except ValueError:
        raise CanonicalError("not JSON") from None


def canonical_number(text: str) -> str:
    """'42.0' -> '42', '1e3' -> '1000', '-0.50' -> '-0.5', '-0' -> '0'."""
    if _NUMBER.fullmatch(text) is None:
        raise CanonicalError(f"not a number: {_short(text)!r}")
    try:
        number = Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise CanonicalError(f"not a number: {_short(text)!r}") from None
    if abs(number.adjusted()) > _MAX_EXPONENT:
        raise CanonicalError("number out of range")
    if number.is_zero():
        return "0"
    digits = len(number.as_tuple().digits)
    return format(number.normalize(Context(prec=max(28, digits))), "f")  # never rounds


def canonical_set(text: str) -> str:
    """'c, b, a' -> '["a","b","c"]'; a JSON list when the text starts with '['; duplicates once."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = load_json(stripped)
        except ValueError:
            raise CanonicalError("not a JSON list") from None
        if not isinstance(value, list):  # pragma: no cover - JSON that starts with '[' is a list
            raise CanonicalError("not a JSON list")
        items = [item if isinstance(item, str) else dump_json(item) for item in value]
    else:
        items = re.split(r"[,\n]", stripped)
    distinct = sorted({item.strip() for item in items} - {""})
    if not distinct:
        raise CanonicalError("no items in the list")
    return dump_json(distinct)


STEPS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "collapse_whitespace": lambda text: re.sub(r"\s+", " ", text),
    "lowercase": str.lower,
    "json": canonical_json,
    "number": canonical_number,
    "set": canonical_set,
}


def canonicalize(value: object, steps: Sequence[str]) -> str:
    """Apply `steps` in order to the text of `value`. Raises CanonicalError when a step cannot."""
    text = as_text(value)
    for step in steps:
        text = STEPS[step](text)
    return text


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
