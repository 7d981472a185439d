"""Output helpers shared by commands: people get rich, machines get one JSON object on stdout."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from maker_cli._types import JSONObject
from maker_cli.secrets import redact

EXIT_UNDECIDED = 3
# how a run's ending becomes the process's exit code (0 solved; resumable endings are nonzero)
EXIT_CODES = {
    "solved": 0,
    "failed": 1,
    "error": 1,
    "undecided": EXIT_UNDECIDED,
    "budget_exhausted": 4,
    "interrupted": 130,
}


UNWRAPPED = 10_000  # the width of a console that is not a terminal: lines and tables are never cut


def _console(file: TextIO, *, soft_wrap: bool = False) -> Console:
    """A console for people on a terminal; for a pipe or a file, one that never wraps or truncates
    (scripts read whole lines: ids, paths and names stay intact) unless COLUMNS asks for a width."""
    if not file.isatty() and not os.environ.get("COLUMNS"):
        return Console(file=file, highlight=False, width=UNWRAPPED, soft_wrap=True)
    return Console(file=file, highlight=False, soft_wrap=soft_wrap)


def out_console() -> Console:
    """A console for stdout, created at call time so tests that swap sys.stdout see the output."""
    return _console(sys.stdout)


def err_console() -> Console:
    return _console(sys.stderr, soft_wrap=True)


# CSI and OSC escape sequences first (so their text goes too), then any other control character
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from a model, a spec or a server without terminal control sequences (newlines and tabs kept)."""
    return _CONTROL.sub("", text)


def one_line(message: str) -> str:
    """A message as one printable line: line breaks (a field name can hold one) shown as \\n."""
    return printable(redact(message)).strip().replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")


def error_line(message: str) -> None:
    """One red line on stderr: how every MakerError reaches a person."""
    err_console().print(f"[bold red]error:[/] {escape(one_line(message))}", markup=True)


def warn_line(message: str) -> None:
    """A warning on the `maker` logger: one `warning:` line on stderr through the CLI's handler
    (`maker_cli.cli.logs`), hidden by `--log-level error`."""
    logging.getLogger("maker").warning("%s", message)


def _clean(value: object) -> object:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def print_json(obj: JSONObject) -> None:
    """Exactly one JSON object on stdout (NaN/inf become null so the output is strict JSON)."""
    sys.stdout.write(json.dumps(_clean(obj), indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def print_json_line(obj: JSONObject) -> None:
    """One JSON object on one line of stdout, flushed: a line of a JSON Lines stream
    (`maker runs watch --json`), strict JSON as in `print_json`."""
    sys.stdout.write(json.dumps(_clean(obj), separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def is_terminal() -> bool:
    return sys.stdout.isatty()
