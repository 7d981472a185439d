"""Logging for the `maker` command: one handler on the `maker` logger, plain lines on stderr.

`maker -v` / `-vv` / `--log-level LEVEL` (or MAKER_LOG_LEVEL) set the level once for every
command. Each record becomes one line, `warning: ...`, `info: ...`: keys redacted, control
characters removed, line breaks shown as \\n (`output.one_line`), coloured only on a terminal
(and not under NO_COLOR). Nothing is ever logged to stdout, which `--json` keeps for its one object.

What is said at each level: warnings (retries as they happen, the warnings of a result, a store
that failed) by default; with -v (INFO) also each decided step and each call that failed after
its retries; with -vv (DEBUG) every call, sample and round (`maker_cli.jobs.event_log.EventLogger`).
"""

from __future__ import annotations

import logging
import os
import sys

from maker_cli.cli.output import one_line

LOGGER = "maker"
HANDLER_NAME = "maker-cli-stderr"
_COLOURS = {
    logging.DEBUG: "\x1b[2m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[1;31m",
}
_RESET = "\x1b[0m"


class StderrLines(logging.Handler):
    """Each record as one plain line on the stderr of the moment (a test's, or a live display's proxy)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                message = f"{message} ({type(error).__name__}: {error})"
            label = record.levelname.lower()
            stream = sys.stderr
            colour = _COLOURS.get(record.levelno) if _colour(stream) else None
            if colour is not None:
                label = f"{colour}{label}:{_RESET}"
            else:
                label = f"{label}:"
            stream.write(f"{label} {one_line(message)}\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's own policy: a failing handler reports and goes on
            self.handleError(record)


def _colour(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty()) and not os.environ.get("NO_COLOR")


def level_for(verbose: int, name: str | None) -> int:
    """The level: `name` when given, else WARNING lowered one step per -v (INFO, then DEBUG)."""
    if name is not None:
        return logging.getLevelName(name.upper())  # type: ignore[no-any-return]  # a name gives its number
    return (logging.WARNING, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG


def setup_logging(level: int) -> None:
    """Send the `maker` logger's records at `level` and above to stderr through one handler (set up
    again, not added twice, when the command runs again in one process, as tests do)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if handler.name == HANDLER_NAME:
            logger.removeHandler(handler)
    handler = StderrLines()
    handler.name = HANDLER_NAME
    logger.addHandler(handler)
    logger.setLevel(level)


def hand_over_to_root() -> None:
    """Leave the `maker` logger's records to the root logger's handlers (serve-mcp sets its own)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if handler.name == HANDLER_NAME:
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
