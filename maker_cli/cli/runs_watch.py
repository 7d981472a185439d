"""`maker runs watch RUN_ID`: the live dashboard of a run that another process (or another machine
sharing the store file) executes, read from the run store."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import typer
from rich.console import Console

from maker_cli.cli.display.run_view import RunView
from maker_cli.cli.output import EXIT_CODES, is_terminal, out_console, print_json_line, printable
from maker_cli.cli.runs_common import StoreOpt, existing_store_file
from maker_cli.jobs.run_watch import RunSnapshot, watch_run
from maker_cli.secrets import redact
from maker_cli.store.rows import RunRecord
from maker_cli.store.run_store import LEASE_STALE_S
from maker_cli.workflows.task import WorkflowTask


def watch_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    interval: float = typer.Option(
        1.0, "--interval", min=0.1, max=3600, help="Seconds between two reads of the store."
    ),
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON object per read, one a line (JSON Lines); the last one is final."
    ),
) -> None:
    """Follow a run another process executes: its live dashboard, read from the store.

    Reads the store (read-only) every --interval seconds and exits when the run ends, with the exit
    code `maker run` gives that ending: 0 solved, 1 failed or error, 3 undecided, 4 budget
    exhausted, 130 interrupted. A run that has ended already: its final figures, once. Ctrl-C stops
    watching (exit 130), never the run.
    """
    path = existing_store_file(ctx, store)
    snapshots = watch_run(path, run_id, interval)
    try:
        first = next(snapshots)  # an unknown run: a StoreError, one line, exit 2
        last = _follow_json(first, snapshots) if json_out else _follow(first, snapshots, path, interval)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # quietly: the run itself goes on
    raise typer.Exit(EXIT_CODES.get(last.record.status, 1))


def _follow_json(first: RunSnapshot, rest: Iterator[RunSnapshot]) -> RunSnapshot:
    last = first
    for snapshot in chain([first], rest):
        print_json_line(snapshot.to_json())
        last = snapshot
    return last


def _follow(first: RunSnapshot, rest: Iterator[RunSnapshot], path: Path, interval: float) -> RunSnapshot:
    """The run's dashboard while it runs (a terminal), or a plain line at most every 5 s while it
    advances, one when it goes quiet, and its final figures (not a terminal)."""
    console = out_console()
    record = first.record
    terminal = is_terminal()
    view = RunView(
        console,
        title=_title(record),
        steps_total=record.steps_total,
        start_step=record.steps_done,
        k=_k(record),
        expected_cost=None,
        live=terminal and first.running,
        from_store=True,
    )
    last = first
    _show(view, first)  # the first frame has the figures
    if first.running:
        _say(console, f"watching run {record.id} in {path}, read every {interval:g} s")
        stalled = False
        with view:
            for snapshot in chain([first], rest):
                _show(view, snapshot)
                if not terminal and snapshot.stalled and not stalled:  # once each time it goes quiet
                    _say(console, f"{view.plain_line()}; {view.note}")
                stalled, last = snapshot.stalled, snapshot
    if not terminal and view.plain_line() != view.last_plain:  # the final figures, unless just printed
        _say(console, view.plain_line())
    elif not first.running:
        console.print(view)
    _say(console, _ending(last.record))
    return last


def _show(view: RunView, snapshot: RunSnapshot) -> None:
    """Feed the view a snapshot's totals and the note under them."""
    quiet = f"{snapshot.quiet_s:,.0f} s"
    if not snapshot.running:
        view.note = None  # the run has ended: how long ago it was written says nothing
    elif snapshot.stalled:
        view.note_style = "yellow"
        view.note = f"no progress for {quiet}: nothing written to the store since"
        if snapshot.remote_stale:
            view.note += (
                f"; its process ({snapshot.record.owner}) is on another host and has not written for over "
                f"{LEASE_STALE_S:.0f} s, so the store counts the run interrupted: it may have stopped"
            )
    else:
        view.note_style = "dim"
        view.note = f"last written {quiet} ago · Ctrl-C stops watching, not the run"
    view.update(snapshot.totals())


def _title(r: RunRecord) -> str:
    what = f"{r.name or r.kind}{' (steps: nodes)' if r.kind == WorkflowTask.kind else ''}"
    return printable(f"{r.id} · {what} · {r.model or '?'} · k={_k(r) or '?'}")


def _k(r: RunRecord) -> int:
    job = (r.config or {}).get("job")
    k = job.get("k") if isinstance(job, dict) else None
    return k if isinstance(k, int) else 0


def _ending(r: RunRecord) -> str:
    why = f": {redact(r.message)}" if r.message else ""
    return printable(f"run {r.id} {r.status}{why}")


def _say(console: Console, line: str) -> None:
    console.print(line, highlight=False, markup=False, soft_wrap=True)
