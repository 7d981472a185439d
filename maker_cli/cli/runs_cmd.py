"""`maker runs list` and `maker runs show RUN_ID`: what the run store holds (like `llm logs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maker_cli.cli.app import config_path
from maker_cli.cli.output import out_console, print_json
from maker_cli.errors import StoreError

runs_app = typer.Typer(help="List and inspect stored runs.", no_args_is_help=True)

StoreOpt = typer.Option(None, "--store", help="SQLite run store (default: user data dir; MAKER_STORE).")


def _open(ctx: typer.Context, store: Optional[Path]):  # -> RunStore
    from maker_cli.jobs import store_path
    from maker_cli.store import RunStore

    from maker_cli.settings import load_settings

    path = store_path(load_settings(config_path(ctx), store=store).store)
    if not path.is_file():
        raise StoreError(f"no run store at {path} yet (runs are stored there once you run a job)")
    return RunStore(path)


def _money(x: float | None) -> str:
    return "unknown" if x is None else f"${x:,.4f}"


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs, newest first."),
    status: Optional[str] = typer.Option(None, "--status", help="Only runs with this status."),
    store: Optional[Path] = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Stored runs, newest first."""
    from rich.table import Table

    with _open(ctx, store) as s:
        runs = s.list_runs(limit, status=status)
    if json_out:
        print_json({"runs": [_summary(r) for r in runs]})
        return
    table = Table(show_edge=False)
    for col in ("run", "task", "model", "status", "steps", "wrong", "samples", "cost", "created"):
        table.add_column(col, overflow="fold")
    for r in runs:
        total = f"/{r.steps_total:,}" if r.steps_total else ""
        table.add_row(r.id, r.name or r.kind, r.model or "", r.status, f"{r.steps_done:,}{total}", str(r.wrong_steps),
                      f"{r.samples:,}", _money(r.cost_usd), r.created_at[:19])
    out_console().print(table if runs else "no runs stored yet")


def _summary(r) -> dict:  # noqa: ANN001
    data = r.to_dict()
    data.pop("last_state", None)
    return data


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    steps: int = typer.Option(0, "--steps", min=0, help="Also show this many stored steps (contested first)."),
    store: Optional[Path] = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One run: configuration, status, totals, and (with --steps) its contested steps."""
    with _open(ctx, store) as s:
        r = s.get_run(run_id)
        shown = []
        if steps:
            contested = [st for st in s.iter_steps(r.id) if st.rounds > 1 or st.red_flagged or st.correct is False]
            shown = contested[:steps]
    data = r.to_dict()
    data["steps"] = [
        {"idx": st.idx, "winner": st.winner_key, "tallies": dict(st.tallies), "samples": st.samples,
         "red_flagged": st.red_flagged, "rounds": st.rounds, "correct": st.correct}
        for st in shown
    ]
    if json_out:
        print_json(data)
        return
    console = out_console()
    total = f"/{r.steps_total:,}" if r.steps_total else ""
    console.print(f"[bold]{r.id}[/] {r.name or r.kind} · {r.model} · [bold]{r.status}[/]", highlight=False)
    if r.message:
        console.print(r.message, highlight=False)
    console.print(
        f"steps {r.steps_done:,}{total}, wrong {r.wrong_steps} (first: {r.first_error_step}), samples {r.samples:,} "
        f"({r.red_flagged:,} red-flagged {r.red_flag_reasons or ''}), call errors {r.errors}, retries {r.retries}, "
        f"tokens {r.input_tokens:,} in / {r.output_tokens:,} out, cost {_money(r.cost_usd)}, {r.wall_s:.1f} s",
        highlight=False, soft_wrap=True,
    )
    job = (r.config or {}).get("job", {})
    if job:
        console.print(f"k={job.get('k')} ({job.get('k_source')}), max_samples={job.get('max_samples')}, "
                      f"temperatures {job.get('first_temperature')}/{job.get('temperature')}", highlight=False)
    for st in data["steps"]:
        console.print(f"  step {st['idx']}: {st['tallies']} rounds {st['rounds']} red flags {st['red_flagged']}"
                      f" correct={st['correct']}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
