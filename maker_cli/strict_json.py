"""Strict JSON for untrusted text (model replies, stored values): no NaN or Infinity, a nesting too
deep for the parser is a ValueError like any other malformed input; and canonical JSON out."""

from __future__ import annotations

import json
from typing import NoReturn

from maker_cli._types import JSONValue


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def load_json(text: str) -> JSONValue:
    """Strict JSON (no NaN/Infinity). Raises ValueError for anything that is not JSON."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def dump_json(value: object) -> str:
    """Canonical JSON: sorted keys, compact separators, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


__all__ = ["dump_json", "load_json"]
