"""`maker runs list` and `maker runs show RUN_ID`: what the run store holds (like `llm logs`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from maker_cli.cli.app import config_path
from maker_cli.cli.display.formats import money as _money
from maker_cli.cli.output import out_console, print_json, printable
from maker_cli.config.paths import default_store_file
from maker_cli.config.settings import load_settings
from maker_cli.core.status import RunStatus
from maker_cli.errors import StoreError, UsageError
from maker_cli.secrets import redact
from maker_cli.store.rows import RunRecord
from maker_cli.store.run_store import RunStore
from maker_cli.workflows.task import WorkflowTask

app = typer.Typer(help="List and inspect stored runs.", no_args_is_help=True, add_completion=False)

StoreOpt = typer.Option(None, "--store", help="SQLite run store (default: user data dir; MAKER_STORE).")


def _store_path(ctx: typer.Context, store: Path | None) -> Path | None:
    """The store file to read, or None when there is none yet."""
    settings = load_settings(config_path(ctx), store=store)
    path = settings.store if settings.store is not None else default_store_file()
    try:
        return path if path.is_file() else None
    except OSError as exc:  # an untraversable folder on the way
        raise StoreError(
            f"cannot read the run store {path}: {exc.strerror} (pass --store PATH or set MAKER_STORE)"
        ) from None


def _open(ctx: typer.Context, store: Path | None) -> RunStore:
    path = _store_path(ctx, store)
    if path is None:
        where = store or default_store_file()
        raise StoreError(f"no run store at {where} yet (runs are stored there once you run a job)")
    return RunStore(path, readonly=True)  # reading works where maker may not write


@app.command("list")
def list_runs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs, newest first."),
    status: str | None = typer.Option(None, "--status", help="Only runs with this status."),
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Stored runs, newest first."""
    if status is not None and status not in {s.value for s in RunStatus}:
        raise UsageError(f"--status must be one of {', '.join(s.value for s in RunStatus)}, not {status!r}")
    runs: list[RunRecord] = []
    if _store_path(ctx, store) is not None:  # no store yet: nothing has run, an empty list
        with _open(ctx, store) as s:
            runs = s.list_runs(limit, status=status)
    if json_out:
        print_json({"runs": [_summary(r) for r in runs]})
        return
    table = Table(show_edge=False)
    table.add_column("run", no_wrap=True)
    table.add_column("task", overflow="ellipsis", max_width=18)
    table.add_column("model", overflow="ellipsis", max_width=24)
    table.add_column("status", no_wrap=True)
    for col in ("steps", "wrong", "samples", "cost"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    for r in runs:
        total = f"/{r.steps_total:,}" if r.steps_total else ""
        table.add_row(
            r.id,
            Text(printable(r.name or r.kind)),
            Text(printable(r.model or "")),
            r.status,
            f"{r.steps_done:,}{total}",
            str(r.wrong_steps),
            f"{r.samples:,}",
            _money(r.cost_usd),
            r.created_at[:16].replace("T", " "),
        )
    out_console().print(table if runs else "no runs stored yet")


def _summary(r: RunRecord) -> dict[str, object]:
    data = r.to_dict()
    data.pop("last_state", None)
    return data


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    steps: int = typer.Option(0, "--steps", min=0, help="Also show this many contested, red-flagged or wrong steps."),
    step: int | None = typer.Option(None, "--step", min=0, help="Also show this step's stored raw samples."),
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One run: configuration, status, totals, and (with --steps) its contested steps."""
    with _open(ctx, store) as s:
        r = s.get_run(run_id)
        shown = []
        if steps:
            contested = [st for st in s.iter_steps(r.id) if st.rounds > 1 or st.red_flagged or st.correct is False]
            shown = contested[:steps]
        raw = s.get_samples(r.id, step) if step is not None else []
    data = r.to_dict()
    task_config = (r.config or {}).get("task") or {}
    data["prompt"] = task_config.get("prompt") if isinstance(task_config, dict) else None
    if r.kind == WorkflowTask.kind:
        data["nodes"] = workflow_nodes(ctx, store, r)
    data["samples_of_step"] = [
        {
            "seq": x.seq,
            "temperature": x.temperature,
            "answer": x.answer_key,
            "red_flag": x.red_flag,
            "output_tokens": x.output_tokens,
            "finish_reason": x.finish_reason,
            "text": x.text,
        }
        for x in raw
    ]
    data["steps"] = [
        {
            "idx": st.idx,
            "winner": st.winner_key,
            "tallies": dict(st.tallies),
            "samples": st.samples,
            "red_flagged": st.red_flagged,
            "rounds": st.rounds,
            "correct": st.correct,
        }
        for st in shown
    ]
    if json_out:
        print_json(data)
        return
    console = out_console()
    total = f"/{r.steps_total:,}" if r.steps_total else ""
    console.print(
        Text.assemble(
            (r.id, "bold"), f" {printable(r.name or r.kind)} · {printable(r.model or '')} · ", (r.status, "bold")
        ),
        highlight=False,
    )
    if r.message:
        console.print(printable(redact(r.message)), highlight=False, markup=False)
    console.print(
        f"steps {r.steps_done:,}{total}, wrong {r.wrong_steps}"
        + (f" (first: step {r.first_error_step})" if r.first_error_step is not None else "")
        + f", samples {r.samples:,} "
        f"({r.red_flagged:,} red-flagged {r.red_flag_reasons or ''}), call errors {r.errors}, retries {r.retries}, "
        f"tokens {r.input_tokens:,} in ({r.cached_tokens:,} cached) / {r.output_tokens:,} out, "
        f"cost {_money(r.cost_usd)}, {r.wall_s:.1f} s",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    job = (r.config or {}).get("job", {})
    if job:
        console.print(
            f"k={job.get('k')} ({job.get('k_source')}), max_samples={job.get('max_samples')}, "
            f"temperatures {job.get('first_temperature')}/{job.get('temperature')}",
            highlight=False,
            markup=False,
        )
    saved = r.last_state if isinstance(r.last_state, dict) else {}
    waste = saved.get("waste") if isinstance(saved.get("waste"), dict) else None
    if waste and waste.get("branches"):
        console.print(
            f"speculation: {waste.get('samples', 0):,} samples wasted on {waste['branches']:,} discarded branches "
            f"(cost {_money(waste.get('cost_usd'))}), counted in the totals above",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if r.kind == WorkflowTask.kind:
        _print_nodes(console, data["nodes"], r)
    else:
        console.print(_prompt_line(data["prompt"]), highlight=False, soft_wrap=True, markup=False)
    for st in data["steps"]:
        console.print(
            f"  step {st['idx']}: {printable(str(st['tallies']))} rounds {st['rounds']} red flags {st['red_flagged']}"
            f" correct={st['correct']}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if step is not None:
        if not raw and step >= r.steps_done + (r.status != "solved"):
            console.print(
                f"run {r.id} has no step {step}: it has steps 0 to {max(r.steps_done - 1, 0):,}"
                + (f" (and stopped at step {r.steps_done:,})" if r.status != "solved" else ""),
                highlight=False,
                markup=False,
            )
        elif not raw:
            console.print(
                f"no raw samples stored for step {step}: by default only contested, red-flagged "
                "and undecided steps keep them (see --log-samples)",
                highlight=False,
            )
        for x in data["samples_of_step"]:
            verdict = f"red flag: {x['red_flag']}" if x["red_flag"] else f"vote: {x['answer']}"
            console.print(
                f"  sample {x['seq']} (T={x['temperature']}, {x['output_tokens']} tokens) {printable(verdict)}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
            console.print("    " + printable(x["text"] or "").replace("\n", "\n    "), highlight=False, markup=False)


def _prompt_line(record: object) -> str:
    """`prompt: NAME (sha256 abc…) from FILE`, or why no prompt is recorded."""
    if not isinstance(record, dict) or not record.get("sha256"):
        return "prompt: not recorded (a run stored before 0.2: the task's own prompt)"
    source = f" from {record['source']}" if record.get("source") and record.get("name") not in ("built-in",) else ""
    return printable(f"prompt: {record.get('name')} (sha256 {str(record['sha256'])[:12]}){source}")


def workflow_nodes(ctx: typer.Context, store: Path | None, r: RunRecord) -> list[dict[str, object]]:
    """A workflow run's decided nodes (from its step rows) and its sequence nodes' own runs."""
    state = r.last_state if isinstance(r.last_state, dict) else {}
    children = state.get("children") or {}
    nodes: list[dict[str, object]] = []
    with _open(ctx, store) as s:
        for row in s.iter_steps(r.id):
            nodes.append(
                {
                    "id": row.input_state,
                    "status": "decided",
                    "winner": row.winner_key,
                    "votes": dict(row.tallies),
                    "samples": row.samples,
                    "rounds": row.rounds,
                    "cost_usd": row.cost_usd,
                    "child_run": children.get(row.input_state),
                }
            )
        decided = {n["id"] for n in nodes}
        for node_id, child in children.items():
            if node_id not in decided:
                record = s.get_run(str(child))
                nodes.append(
                    {
                        "id": node_id,
                        "status": record.status,
                        "winner": None,
                        "votes": {},
                        "samples": record.samples,
                        "rounds": record.rounds,
                        "cost_usd": record.cost_usd,
                        "child_run": child,
                    }
                )
    return nodes


def _print_nodes(console: Console, nodes: list[dict[str, object]], r: RunRecord) -> None:
    total = f" of {r.steps_total:,}" if r.steps_total else ""
    console.print(f"nodes: {r.steps_done:,}{total} decided", highlight=False, markup=False)
    for node in nodes:
        child = f" (its run {node['child_run']})" if node.get("child_run") else ""
        winner = f" = {str(node['winner'])[:120]}" if node.get("winner") is not None else ""
        cost = "" if node.get("cost_usd") is None else f", {_money(node['cost_usd'])}"  # type: ignore[arg-type]
        text = f"  {node['id']}: {node['status']}{winner}; {node['samples']:,} samples{cost}{child}"
        console.print(printable(text), highlight=False, soft_wrap=True, markup=False)
    result = (r.last_state or {}).get("result") if isinstance(r.last_state, dict) else None
    if result is not None:
        console.print(printable(f"result: {json.dumps(result)[:2000]}"), highlight=False, soft_wrap=True, markup=False)
