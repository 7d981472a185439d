"""The `maker` command: global options, one line per error, and lazily loaded commands.

Each command lives in its own module under `maker_cli.cli` and is imported only when it runs
(`COMMANDS`), so `maker --help` imports none of them and starts fast; inside a command module,
imports are at the top. Every error reaches a person as one red line and an exit code: 1 error,
2 usage (bad flags, bad input), 3 undecided, 4 budget exhausted, 130 interrupted; `MAKER_DEBUG=1`
shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import typer
from typer import _click as click  # typer vendors its own click: its exceptions are these
from typer.core import TyperCommand, TyperGroup

from maker_cli import __version__
from maker_cli.cli.output import error_line
from maker_cli.errors import MakerError

# name -> (module, one-line help); listed by `maker --help` in this order
COMMANDS: dict[str, tuple[str, str]] = {
    "estimate": (
        "maker_cli.cli.estimate",
        "Estimate a MAKER job before spending anything: k, P(all steps correct), calls, cost, time.",
    ),
    "calibrate": (
        "maker_cli.cli.calibrate",
        "Measure a model's p and valid rate on a task; recommend k; write a calibration file.",
    ),
    "vote": ("maker_cli.cli.vote", "Get one answer by voting: sample until one answer leads every other by k."),
    "run": ("maker_cli.cli.run", "Run whole jobs to completion (live progress; resumable with --resume)."),
    "runs": ("maker_cli.cli.runs", "List, inspect, watch, report on, export and delete stored runs."),
    "serve-mcp": ("maker_cli.cli.serve_mcp", "Serve maker's tools to AI assistants over MCP."),
    "prompt": ("maker_cli.cli.prompt", "See the exact prompt a step sends (Hanoi's, or a spec's)."),
    "examples": ("maker_cli.cli.examples", "List the example specs that ship with maker; copy one to run or change."),
    "decompose": (
        "maker_cli.cli.decompose",
        "Split a task into a workflow of voted subtasks (every split decided by voting).",
    ),
}


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


def debug() -> bool:
    return os.environ.get("MAKER_DEBUG", "") not in ("", "0", "false", "no")


class MakerGroup(TyperGroup):
    """Lazy commands; every MakerError as one red line and its exit code; usage errors in one line."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return super().get_command(ctx, name)
        module, short = COMMANDS[name]
        if self._listing:  # `maker --help` lists commands without importing them
            return TyperCommand(name, help=short, short_help=short)
        command = typer.main.get_command(importlib.import_module(module).app)
        command.name = name
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: object,  # click's: the context's settings
    ) -> object:  # click's: the command's return value, or the exit code when not standalone
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `maker` or `maker run` alone: the help, exit 2
            if exc.format_message().strip():
                typer.echo(exc.format_message())
            code = exc.exit_code
        except click.exceptions.ClickException as exc:  # bad flags: one line, exit 2
            ctx: click.Context | None = getattr(exc, "ctx", None)  # a UsageError's: the command that failed
            command = f" {ctx.command_path}" if ctx is not None else ""
            error_line(f"{exc.format_message()} (see{command or ' maker'} --help)".replace("  ", " "))
            code = exc.exit_code
        except typer.Abort:
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click.exceptions.ClickException):
            raise
        except BrokenPipeError:  # `maker ... | head`: the reader left; nothing more to say
            _silence_stdout()
            raise typer.Exit(0) from None
        except KeyboardInterrupt:
            if debug():
                raise
            error_line("interrupted")
            raise typer.Exit(130) from None
        except MakerError as exc:
            if debug():
                raise
            error_line(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:  # a bug: still one line, never a traceback unless asked
            if debug():
                raise
            error_line(f"internal error: {type(exc).__name__}: {exc} (set MAKER_DEBUG=1 for the traceback)")
            raise typer.Exit(1) from None


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


app = typer.Typer(
    cls=MakerGroup,
    name="maker",
    help="Run and estimate MDAP jobs with MAKER: first-to-ahead-by-k voting over tiny LLM steps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def installed_version() -> str:
    """The installed package's version (its metadata); `__version__` when run from a checkout
    that is not installed."""
    from importlib.metadata import PackageNotFoundError, version  # about 10 ms: only for --version

    try:
        return version("maker-cli")
    except PackageNotFoundError:
        return __version__


def _version(value: bool) -> None:
    if value:
        typer.echo(f"maker {installed_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        help="YAML settings file (default: maker.yaml in the user config dir; or MAKER_CONFIG).",
        dir_okay=False,
    ),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        metavar="",  # a count flag (-v, -vv): no value to show, where typer would show <int>
        show_default=False,
        help="Say more on stderr: -v each decided step and failed call, -vv every call, sample and round.",
    ),
    log_level: LogLevel | None = typer.Option(
        None,
        "--log-level",
        case_sensitive=False,
        envvar="MAKER_LOG_LEVEL",
        help="Log level on stderr (default warning: retries and warnings); wins over -v.",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    from maker_cli.cli.logs import level_for, setup_logging  # logging: only once a command runs

    source = ctx.get_parameter_source("log_level")
    from_env = source is not None and source.name == "ENVIRONMENT"
    name = None if log_level is None or (from_env and verbose) else log_level.value  # a flag beats the env
    level = level_for(verbose, name)
    setup_logging(level)
    ctx.obj = {"config": config, "log_level": level if verbose or log_level is not None else None}


def log_level(ctx: typer.Context) -> int | None:
    """The level -v/--log-level gave `maker` (None: neither was given)."""
    root = ctx.find_root()
    level: int | None = (root.obj or {}).get("log_level")
    return level


def config_path(ctx: typer.Context) -> Path | None:
    """The --config given to `maker` (commands pass it to load_settings)."""
    root = ctx.find_root()
    return (root.obj or {}).get("config")


def main() -> None:
    try:
        app(prog_name="maker")
    except KeyboardInterrupt:  # outside any command (e.g. during start-up)
        sys.exit(130)
