"""What `maker runs export`, `delete` and `prune` share: the store they act on and the confirmation."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from maker_cli.cli.app import config_path
from maker_cli.config.paths import default_store_file
from maker_cli.config.settings import load_settings
from maker_cli.errors import StoreError

StoreOpt = typer.Option(None, "--store", help="SQLite run store (default: user data dir; MAKER_STORE).")


def store_file(ctx: typer.Context, store: Path | None) -> Path | None:
    """The run store file the settings name (flag, MAKER_STORE, config file, default), or None
    when there is none yet."""
    settings = load_settings(config_path(ctx), store=store)
    path = settings.store if settings.store is not None else default_store_file()
    try:
        return path if path.is_file() else None
    except OSError as exc:  # an untraversable folder on the way
        raise StoreError(
            f"cannot read the run store {path}: {exc.strerror} (pass --store PATH or set MAKER_STORE)"
        ) from None


def existing_store_file(ctx: typer.Context, store: Path | None) -> Path:
    """The run store file, or a StoreError (exit 2) saying where runs would be stored."""
    path = store_file(ctx, store)
    if path is None:
        where = store or default_store_file()
        raise StoreError(f"no run store at {where} yet (runs are stored there once you run a job)")
    return path


def can_ask() -> bool:
    """Whether a person can answer a question: stdin is a terminal."""
    return sys.stdin.isatty()
