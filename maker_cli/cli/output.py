"""Output helpers shared by commands: people get rich, machines get one JSON object on stdout."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

_err = Console(stderr=True, highlight=False, soft_wrap=True)


def out_console() -> Console:
    """A console for stdout, created at call time so tests that swap sys.stdout see the output."""
    return Console(file=sys.stdout, highlight=False)


def err_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    """One red line on stderr: how every MakerError reaches a person."""
    err_console().print(f"[bold red]error:[/] {escape(message)}", markup=True)


def warn_line(message: str) -> None:
    err_console().print(f"[yellow]warning:[/] {escape(message)}", markup=True)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def print_json(obj: dict[str, Any]) -> None:
    """Exactly one JSON object on stdout (NaN/inf become null so the output is strict JSON)."""
    sys.stdout.write(json.dumps(_clean(obj), indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def is_terminal() -> bool:
    return sys.stdout.isatty()
