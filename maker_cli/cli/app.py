"""The `maker` Typer application: global options, error handling and command registration.

Each command lives in its own module and keeps heavy imports (litellm, mcp) inside the function
that needs them, so `maker --help` and `maker estimate` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from maker_cli import __version__
from maker_cli.errors import MakerError


class MakerGroup(TyperGroup):
    """Turns every MakerError into one red line and its exit code; tracebacks only with MAKER_DEBUG=1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:  # `maker ... | head`: the reader left; nothing more to say
            _silence_stdout()
            raise typer.Exit(0) from None
        except KeyboardInterrupt:
            if _debug():
                raise
            from maker_cli.cli.output import error_line

            error_line("interrupted")
            raise typer.Exit(130) from None
        except MakerError as exc:
            if _debug():
                raise
            from maker_cli.cli.output import error_line

            error_line(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:  # a bug: still one line, never a traceback unless asked
            if _debug():
                raise
            from maker_cli.cli.output import error_line

            error_line(f"internal error: {type(exc).__name__}: {exc} (set MAKER_DEBUG=1 for the traceback)")
            raise typer.Exit(1) from None


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _debug() -> bool:
    return os.environ.get("MAKER_DEBUG", "") not in ("", "0", "false", "no")


app = typer.Typer(
    cls=MakerGroup,
    name="maker",
    help="Run and estimate MDAP jobs with MAKER: first-to-ahead-by-k voting over tiny LLM steps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"maker {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(
        None, "--config", help="YAML settings file (default: maker.yaml in the user config dir; or MAKER_CONFIG).",
        dir_okay=False,
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    ctx.obj = {"config": config}


def config_path(ctx: typer.Context) -> Path | None:
    """The --config given to `maker` (commands pass it to load_settings)."""
    root = ctx.find_root()
    return (root.obj or {}).get("config")


def _register() -> None:
    from maker_cli.cli import calibrate_cmd, estimate_cmd, mcp_cmd, run_cmd, runs_cmd, vote_cmd

    # the order `maker --help` lists them in: plan, measure, answer, run, inspect, serve
    estimate_cmd.register(app)
    calibrate_cmd.register(app)
    vote_cmd.register(app)
    run_cmd.register(app)
    runs_cmd.register(app)
    mcp_cmd.register(app)


_register()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # outside any command (e.g. during start-up)
        sys.exit(130)
