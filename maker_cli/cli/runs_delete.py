"""`maker runs delete RUN_ID...` and `maker runs prune --older-than 30d`: remove stored runs.

Both ask on a terminal before deleting (`--yes` skips the question; without a terminal `--yes` is
required), never touch a run that a live process holds, and take a workflow run's child runs with
it (`maker_cli.jobs.runs_admin` has the rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console

from maker_cli.cli.display.formats import money as _money
from maker_cli.cli.display.formats import plural
from maker_cli.cli.output import out_console, print_json, printable
from maker_cli.cli.runs_common import StoreOpt, can_ask, existing_store_file, store_file
from maker_cli.core.status import RunStatus
from maker_cli.errors import MakerError, UsageError
from maker_cli.jobs.runs_admin import Doomed, delete, parse_duration, plan_delete, plan_prune, vacuum
from maker_cli.store.run_store import RunStore

YesOpt = typer.Option(False, "--yes", "-y", help="Delete without asking (needed where no one can answer).")


def _describe(d: Doomed) -> str:
    r = d.run
    total = f"/{r.steps_total:,}" if r.steps_total else ""
    child = f", child run of {d.parent} (node {d.node})" if d.parent else ""
    cost = f", {_money(r.cost_usd)}" if r.cost_usd else ""
    return printable(
        f"{r.id} {r.name or r.kind} · {r.status} · {r.steps_done:,}{total} {plural(r.steps_total or r.steps_done, 'step')}{cost} · "
        f"last written {r.updated_at[:16].replace('T', ' ')}{child}"
    )


def _can_confirm(yes: bool, json_out: bool, what: str) -> None:
    """Refuse (exit 2) where no one can be asked and --yes is not given."""
    if yes:
        return
    if json_out:
        raise UsageError(f"--json cannot ask before deleting: add --yes to {what}")
    if not can_ask():
        raise UsageError(f"not a terminal, so no one can confirm: add --yes to {what}")


def _ask(doomed: Sequence[Doomed], yes: bool) -> None:
    """Ask before deleting, unless --yes; a "no" deletes nothing (exit 1)."""
    if yes:
        return
    children = sum(1 for d in doomed if d.parent)
    extra = f" (with {children} child run{'s' * (children != 1)} of workflow runs)" if children else ""
    if not typer.confirm(f"Delete {len(doomed)} run{'s' * (len(doomed) != 1)}{extra} with their steps and samples?"):
        raise MakerError("not confirmed; nothing deleted")


def _list(console: Console, doomed: Sequence[Doomed]) -> None:
    for d in doomed:
        console.print(("    " if d.parent else "  ") + _describe(d), highlight=False, markup=False, soft_wrap=True)


def delete_command(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., help="Run ids (or unique prefixes)."),
    yes: bool = YesOpt,
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="Print what was deleted as one JSON object (needs --yes)."),
) -> None:
    """Delete runs with their steps and samples (asks first; --yes does not).

    A workflow run takes its child runs with it. A run that a live process holds is refused.
    """
    path = existing_store_file(ctx, store)
    with RunStore(path) as s:
        doomed = plan_delete(s, run_ids)
        _can_confirm(yes, json_out, "delete them")
        if not json_out:
            console = out_console()
            console.print("to delete:", highlight=False)
            _list(console, doomed)
        _ask(doomed, yes)
        deleted = delete(s, doomed)
    if json_out:
        print_json({"deleted": [d.to_dict() for d in doomed if d.run.id in deleted]})
        return
    _said_deleted(doomed, deleted)


def _said_deleted(doomed: Sequence[Doomed], deleted: Sequence[str]) -> None:
    console = out_console()
    gone = set(deleted)
    for d in doomed:
        if d.run.id in gone and d.parent is None:
            kids = [c.run.id for c in doomed if c.parent is not None and c.run.id in gone and _under(c, d, doomed)]
            with_kids = f" and its child run{'s' * (len(kids) != 1)} {', '.join(kids)}" if kids else ""
            console.print(f"deleted run {d.run.id}{with_kids}", highlight=False, markup=False, soft_wrap=True)


def _under(child: Doomed, top: Doomed, doomed: Sequence[Doomed]) -> bool:
    """Whether `child` descends from `top` (through the parents recorded in `doomed`)."""
    parents = {d.run.id: d.parent for d in doomed}
    parent = child.parent
    while parent is not None:
        if parent == top.run.id:
            return True
        parent = parents.get(parent)
    return False


def prune_command(
    ctx: typer.Context,
    older_than: str = typer.Option(
        ..., "--older-than", help="Delete runs last written longer ago than this: 30d, 12h, 90m (s, m, h, d, w)."
    ),
    status: str | None = typer.Option(None, "--status", help="Only runs with this status (default: any but running)."),
    yes: bool = YesOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted; delete nothing."),
    vacuum_file: bool = typer.Option(False, "--vacuum", help="Afterwards, compact the store file (SQLite VACUUM)."),
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="Print the runs deleted (or, with --dry-run, to delete)."),
) -> None:
    """Delete runs last written longer ago than a duration (--dry-run lists them).

    Never a running run or one that a live process holds; a workflow run takes its child runs with it.
    """
    age = parse_duration(older_than)
    if status is not None and status not in {s.value for s in RunStatus}:
        raise UsageError(f"--status must be one of {', '.join(s.value for s in RunStatus)}, not {status!r}")
    path = store_file(ctx, store)
    if path is None:  # no store yet: nothing to prune
        if json_out:
            print_json({"dry_run": dry_run, "cutoff": None, "runs": [], "skipped": [], "vacuumed": None})
        else:
            out_console().print("no run store yet: nothing to prune", highlight=False)
        return
    sizes: tuple[int, int] | None = None
    with RunStore(path, readonly=dry_run) as s:
        plan = plan_prune(s, age, status)
        if plan.runs and not dry_run:
            _can_confirm(yes, json_out, "prune")
        cutoff = plan.cutoff.isoformat(timespec="seconds").replace("+00:00", "Z")
        console = out_console()
        if not json_out:
            verb = "would delete" if dry_run else "to delete"
            console.print(
                f"runs last written before {cutoff.replace('T', ' ').removesuffix('Z')} UTC, {verb}: {len(plan.runs)}",
                highlight=False,
            )
            _list(console, plan.runs)
            for skip in plan.skipped:
                console.print(
                    printable(f"  skipped {skip.run.id}: {skip.reason}"), highlight=False, markup=False, soft_wrap=True
                )
        deleted: list[str] = []
        if plan.runs and not dry_run:
            _ask(plan.runs, yes)
            deleted = delete(s, plan.runs)
    if vacuum_file and not dry_run:
        sizes = vacuum(path)
    if json_out:
        shown = plan.runs if dry_run else [d for d in plan.runs if d.run.id in deleted]
        print_json(
            {
                "dry_run": dry_run,
                "cutoff": cutoff,
                "runs": [d.to_dict() for d in shown],
                "skipped": [skip.to_dict() for skip in plan.skipped],
                "vacuumed": None if sizes is None else {"bytes_before": sizes[0], "bytes_after": sizes[1]},
            }
        )
        return
    if not dry_run:
        console.print(f"deleted {len(deleted)} run{'s' * (len(deleted) != 1)}", highlight=False)
    if sizes is not None:
        console.print(f"store compacted: {sizes[0]:,} -> {sizes[1]:,} bytes", highlight=False)
