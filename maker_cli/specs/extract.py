"""Reading values out of responses: JSON paths, JSON responses, typed values.

A JSON answer is the response parsed as JSON (the whole response, or else the content of exactly
one ```json fenced block), then a path such as `result.value` or `items[0].name`, then an optional
type check (str, int, float, bool, list, object). No other repair: no trailing commas, single
quotes, or JSON fished out of prose without a fence. `maker_cli.specs.judge` does the rest.
"""

from __future__ import annotations

import re
from typing import Literal

from maker_cli._types import JSONValue
from maker_cli.core.redflags import FORMAT, RedFlag
from maker_cli.errors import UsageError
from maker_cli.specs.canonical import CanonicalError, canonical_number
from maker_cli.strict_json import load_json

ValueType = Literal["str", "int", "float", "bool", "list", "object"]
PathPart = str | int

_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
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


def type_matches(value: object, type_: ValueType | None) -> bool:
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


def parse_json_response(text: str) -> JSONValue | RedFlag:
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


def typed_expected(text: str, type_: ValueType | None) -> JSONValue:
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
