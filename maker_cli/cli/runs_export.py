"""`maker runs export RUN_ID`: a run's decided steps as JSON Lines or CSV (or a Hanoi run's moves)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from maker_cli.cli.files import atomic_text_file
from maker_cli.cli.output import out_console, print_json, printable
from maker_cli.cli.runs_common import StoreOpt, existing_store_file
from maker_cli.errors import UsageError
from maker_cli.store.export import FORMATS, ExportSummary, export_run
from maker_cli.store.run_store import RunStore


def export_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl (one JSON object a step; the default) or csv."),
    moves: bool = typer.Option(
        False, "--moves", help="Hanoi: write only the moves, one `disk,from,to` a line, for a replay checker."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", dir_okay=False, help="Write to this file (replaced whole) instead of stdout."
    ),
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="With -o: print a summary of the export as one JSON object."),
) -> None:
    """Export a run's decided steps as JSON Lines or CSV (or a Hanoi run's moves).

    Each step: index, input state, winner key and value, votes, samples, red flags, rounds, tokens,
    cost, latency, correct. Read from the store as it is written out: any size in constant memory.
    """
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if moves and fmt is not None:
        raise UsageError("--moves writes a plain list of moves; drop --format (or drop --moves for the steps)")
    to_stdout = output is None or str(output) == "-"
    if json_out and to_stdout:
        raise UsageError("--json summarises an export to a file: add -o FILE (without it the export is on stdout)")
    path = existing_store_file(ctx, store)
    with RunStore(path, readonly=True) as s:
        run_id = s.get_run(run_id).id  # an unknown run is said before any file is made
        if to_stdout:
            export_run(s, run_id, sys.stdout, fmt or "jsonl", moves=moves)
            sys.stdout.flush()
            return
        assert output is not None
        summary = _to_file(s, run_id, output, fmt or "jsonl", moves)
    if json_out:
        print_json({**summary.to_dict(), "file": str(output)})
        return
    what = "moves" if summary.format == "moves" else "steps"
    still = f" (the run is {summary.run_status}: what is stored so far)" if summary.run_status == "running" else ""
    out_console().print(
        printable(f"wrote {summary.rows:,} {what} of run {summary.run_id} to {output} ({summary.format}){still}"),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _to_file(store: RunStore, run_id: str, output: Path, fmt: str, moves: bool) -> ExportSummary:
    """Export into `output`, all or nothing (`atomic_text_file`)."""
    with atomic_text_file(output, newline="") as handle:
        return export_run(store, run_id, handle, fmt, moves=moves)
