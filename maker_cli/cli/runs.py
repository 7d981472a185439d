"""`maker runs list` and `maker runs show RUN_ID`: what the run store holds (like `llm logs`); `report`,
`export`, `delete` and `prune` are in their own modules."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from maker_cli._types import JSONObject, JSONValue
from maker_cli.cli.display.formats import confidence_basis, counted, low_confidence_line, plural, probability
from maker_cli.cli.display.formats import money as _money
from maker_cli.cli.output import out_console, print_json, printable
from maker_cli.cli.runs_common import StoreOpt, existing_store_file, store_file
from maker_cli.cli.runs_delete import delete_command, prune_command
from maker_cli.cli.runs_export import export_command
from maker_cli.cli.runs_report import report_command
from maker_cli.cli.runs_watch import watch_command
from maker_cli.core.status import RunStatus
from maker_cli.errors import UsageError
from maker_cli.secrets import redact
from maker_cli.store.rows import RunRecord
from maker_cli.store.run_store import RunStore
from maker_cli.workflows.task import WorkflowTask

app = typer.Typer(
    help="List, inspect, watch, report on, export and delete stored runs.",
    no_args_is_help=True,
    add_completion=False,
)


def _open(ctx: typer.Context, store: Path | None) -> RunStore:
    return RunStore(existing_store_file(ctx, store), readonly=True)  # reading works where maker may not write


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
    if store_file(ctx, store) is not None:  # no store yet: nothing has run, an empty list
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
    least_confident: int = typer.Option(
        5,
        "--least-confident",
        min=0,
        help="Show this many of the least confident decided steps, with their tallies (0: none).",
    ),
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One run: configuration, status, totals, its least confident steps and (with --steps) its contested steps."""
    with _open(ctx, store) as s:
        r = s.get_run(run_id)
        shown = []
        if steps:
            contested = [st for st in s.iter_steps(r.id) if st.rounds > 1 or st.red_flagged or st.correct is False]
            shown = contested[:steps]
        raw = s.get_samples(r.id, step) if step is not None else []
        if step is not None and not raw:
            _check_step(r, step)
        weakest = s.least_confident(r.id, least_confident)
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
    data["least_confident"] = [
        {
            "idx": st.idx,
            **({"node": st.input_state} if r.kind == WorkflowTask.kind else {}),
            "winner": st.winner_key,
            "confidence": st.confidence,
            "tallies": dict(st.tallies),
            "valid": st.valid,
            "rounds": st.rounds,
            "correct": st.correct,
        }
        for st in weakest
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
        f"({r.red_flagged:,} red-flagged{_reasons(r.red_flag_reasons)}), call errors {r.errors}, retries {r.retries}, "
        f"tokens {r.input_tokens:,} in ({r.cached_tokens:,} cached) / {r.output_tokens:,} out, "
        f"cost {_money(r.cost_usd)}, {r.wall_s:.1f} s",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    job = (r.config or {}).get("job", {})
    if job:
        console.print(
            f"k={job.get('k')} ({job.get('k_source')}), {_cap(job.get('max_samples'))}, "
            f"temperatures {job.get('first_temperature')}/{job.get('temperature')}",
            highlight=False,
            markup=False,
        )
    saved = r.last_state if isinstance(r.last_state, dict) else {}
    waste = saved.get("waste") if isinstance(saved.get("waste"), dict) else None
    if waste and waste.get("branches"):
        console.print(
            f"speculation: {counted(waste.get('samples', 0), 'sample')} wasted on "
            f"{counted(waste['branches'], 'discarded branch', 'discarded branches')} "
            f"(cost {_money(waste.get('cost_usd'))}), counted in the totals above",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if r.kind == WorkflowTask.kind:
        _print_nodes(console, data["nodes"], r)
    else:
        console.print(_prompt_line(data["prompt"]), highlight=False, soft_wrap=True, markup=False)
    _print_confidence(console, saved, job, data["least_confident"])
    for st in data["steps"]:
        console.print(
            f"  step {st['idx']}: {printable(str(st['tallies']))} rounds {st['rounds']} red flags {st['red_flagged']}"
            f" correct={st['correct']}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if step is not None:
        if not raw:
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


def _reasons(reasons: dict[str, int] | None) -> str:
    """`: reason n, ...` after a red-flag count, or nothing when no sample was red-flagged."""
    return ": " + printable(", ".join(f"{reason} {n:,}" for reason, n in reasons.items())) if reasons else ""


def _cap(max_samples: JSONValue) -> str:
    return "no sample cap" if max_samples is None else f"max_samples={max_samples}"


def _check_step(r: RunRecord, step: int) -> None:
    """Refuse `--step N` for a step the run does not have (before anything is printed)."""
    stopped = r.status != "solved"  # a run that stopped has its stopping step too (undecided or failed)
    if step < r.steps_done + stopped:
        return
    if r.steps_done == 0:
        has = "it stopped at step 0" if stopped else "it has no steps"
    else:
        has = ("it has step 0" if r.steps_done == 1 else f"it has steps 0 to {r.steps_done - 1:,}") + (
            f" (and stopped at step {r.steps_done:,})" if stopped else ""
        )
    raise UsageError(f"run {r.id} has no step {step}: {has}")


def _print_confidence(console: Console, saved: JSONObject, job: JSONValue, weakest: list[JSONObject]) -> None:
    """The run's confidence summary (kept by the runner) and its least confident steps."""
    summary = saved.get("confidence")
    p = job.get("p") if isinstance(job, dict) else None
    if isinstance(summary, dict) and summary.get("steps"):
        lowest = summary.get("min")
        console.print(
            f"confidence ({confidence_basis(job)}): lowest {probability(lowest if isinstance(lowest, float) else None)}, "
            f"{summary['steps']:,} decided {plural(summary['steps'], 'step')}, "
            + low_confidence_line(
                int(summary.get("low", 0)),
                summary.get("needed") if isinstance(summary.get("needed"), float) else None,
                job.get("target") if isinstance(job, dict) and isinstance(job.get("target"), float) else None,
                adaptive=isinstance(job, dict) and bool(job.get("adaptive_k")),
            ),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    elif p is None:
        console.print(
            "confidence: none (the run has no p: give `maker run` --p or --calibration)", highlight=False, markup=False
        )
    if not weakest:
        return
    console.print(f"least confident steps ({confidence_basis(job)}):", highlight=False, markup=False)
    for st in weakest:
        where = f"node {st['node']}" if "node" in st else f"step {st['idx']}"
        console.print(
            printable(
                f"  confidence {probability(st['confidence'])} at {where}: tallies {st['tallies']}, "
                f"rounds {st['rounds']}, correct={st['correct']}"
            ),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


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


# watch, report, export, delete and prune live in their own modules
app.command("watch")(watch_command)
app.command("report")(report_command)
app.command("export")(export_command)
app.command("delete")(delete_command)
app.command("prune")(prune_command)
