"""`maker run task FILE`: run any sequential MDAP described in YAML, with the runner `run hanoi` uses.

The same engine, store, resume (`--resume RUN_ID`), dashboard, budget guard and `--json` report
as `maker run hanoi`; exit codes as there (0 solved, 1 failed/error, 2 usage or a bad spec,
3 undecided, 4 budget exhausted, 130 interrupted). `--validate` checks a spec without running it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from maker_cli.cli import run_cmd
from maker_cli.cli.app import config_path
from maker_cli.cli.common import parse_inputs
from maker_cli.cli.output import out_console, print_json, warn_line
from maker_cli.errors import MakerError, UsageError


def run_task(
    ctx: typer.Context,
    spec_file: Optional[Path] = typer.Argument(None, metavar="FILE", help="A sequential task spec (YAML).",
                                               dir_okay=False),
    inputs: List[str] = typer.Option([], "--input", "-i", help="Spec input as key=value (repeatable; @file reads one)."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Override termination.steps (fixed-length specs)."),
    validate: bool = typer.Option(False, "--validate", help="Check the spec (and its reference) without running it."),
    model: Optional[str] = run_cmd.RunOpt.model,
    k: Optional[int] = run_cmd.RunOpt.k,
    target: Optional[float] = run_cmd.RunOpt.target,
    p: Optional[float] = run_cmd.RunOpt.p,
    calibration: Optional[Path] = run_cmd.RunOpt.calibration,
    max_samples: Optional[int] = run_cmd.RunOpt.max_samples,
    eager: Optional[int] = run_cmd.RunOpt.eager,
    concurrency: Optional[int] = run_cmd.RunOpt.concurrency,
    api_base: Optional[str] = run_cmd.RunOpt.api_base,
    router_config: Optional[Path] = run_cmd.RunOpt.router_config,
    timeout: Optional[float] = run_cmd.RunOpt.timeout,
    max_output_tokens: Optional[int] = run_cmd.RunOpt.max_output_tokens,
    temperature: Optional[float] = run_cmd.RunOpt.temperature,
    first_temperature: Optional[float] = run_cmd.RunOpt.first_temperature,
    price_in: Optional[float] = run_cmd.RunOpt.price_in,
    price_out: Optional[float] = run_cmd.RunOpt.price_out,
    store: Optional[Path] = run_cmd.RunOpt.store,
    log_samples: str = run_cmd.RunOpt.log_samples,
    keep_going: bool = run_cmd.RunOpt.keep_going,
    max_cost: Optional[float] = run_cmd.RunOpt.max_cost,
    yes: bool = run_cmd.RunOpt.yes,
    resume: Optional[str] = run_cmd.RunOpt.resume,
    json_out: bool = run_cmd.RunOpt.json_out,
) -> None:
    """Run a sequential task described in YAML (state, step prompt, answer, termination) step by step.

    See examples/sequential/ for worked specs; `--validate` checks one without running it.
    """
    from maker_cli.tasks.sequence import SpecTask

    if validate:
        _validate(spec_file, parse_inputs(inputs), steps, json_out)
        return
    from maker_cli.config.settings import load_settings

    settings = load_settings(config_path(ctx), store=store)
    store_file = run_cmd._store_file(settings)
    if resume is not None:
        if spec_file is not None or inputs or steps is not None:
            raise UsageError("--resume continues a stored run with its own spec and inputs: give no FILE, "
                             "--input or --steps")
        run_cmd.refuse_with_resume(ctx, run_cmd.RESUME_FIXED)
        task, job = run_cmd._resumed(store_file, resume, max_cost, keep_going, concurrency, timeout)
    else:
        if spec_file is None:
            raise UsageError("give a spec FILE (or --resume RUN_ID)")
        task = SpecTask.from_file(spec_file, parse_inputs(inputs), steps)
        job = run_cmd.job_options(
            model, k, target, p, calibration, max_samples, eager, concurrency, api_base, router_config, timeout,
            max_output_tokens, temperature, first_temperature, price_in, price_out, keep_going, log_samples,
            max_cost, task.planning_steps, settings, spec_defaults=task.job_defaults(),
        )
    _check_simulated(task, job)
    run_cmd.launch(task, job, store_file=store_file, resume=resume, yes=yes, json_out=json_out)


def _check_simulated(task: Any, job: Any) -> None:
    """Refuse a simulated run that cannot work: no reference, or replies every sample would fail."""
    from maker_cli.providers.sim import is_sim, parse_sim

    if not is_sim(job.model) or task.kind != "task":
        return
    if task.sim_problem is not None:
        raise UsageError(f"the simulated model cannot run {task.name!r}: {task.sim_problem}")
    state, _previous = task.start()
    reply = task.reference(0, state).correct
    tokens = parse_sim(job.model).out_tokens or len(reply) // 4 + 1  # as the simulated model counts them
    if job.max_output_tokens is not None and tokens > job.max_output_tokens:
        raise UsageError(
            f"the correct reply to step 0 is {tokens:,} simulated tokens, over the {job.max_output_tokens:,}-token "
            "red flag: every sample would be discarded; raise --max-output-tokens (or red_flags.max_output_tokens)"
        )


def _validate(spec_file: Optional[Path], inputs: dict[str, str], steps: Optional[int], json_out: bool) -> None:
    from maker_cli.tasks.sequence import SpecTask, validate

    if spec_file is None:
        raise UsageError("--validate needs a spec FILE")
    try:
        report = validate(SpecTask.from_file(spec_file, inputs, steps))
    except MakerError as exc:
        if not json_out:
            raise
        print_json({"valid": False, "spec": str(spec_file), "error": str(exc)})
        raise typer.Exit(exc.exit_code) from None
    if json_out:
        print_json(report)
        return
    _print_validation(report)


def _print_validation(report: dict[str, Any]) -> None:
    from rich.markup import escape

    report = {k: escape(v) if isinstance(v, str) else v for k, v in report.items()}
    report["inputs"] = {k: escape(str(v)) for k, v in report["inputs"].items()}
    console = out_console()
    say = lambda text: console.print(text, highlight=False, soft_wrap=True)  # noqa: E731
    say(f"[bold green]valid[/]: {report['spec']} — task [bold]{report['name']}[/]"
        + (f": {report['description']}" if report["description"] else ""))
    if report["inputs"]:
        say("inputs: " + ", ".join(f"{k}={v}" for k, v in report["inputs"].items()))
    say(f"initial state: {_clip(report['initial_state'])}")
    say("answer: " + "; ".join(f"{k} by {v}" for k, v in report["answer"].items()))
    if report["chunks"] is not None:
        say(f"chunks: {report['chunks']} pieces")
    say(f"ends {report['termination']}")
    total = report["steps_total"]
    if total is None:
        say("steps: not known in advance (no reference solver)")
    else:
        fixed = report["termination"].startswith("after")
        say(f"steps: {total:,}" + ("" if fixed else " (the reference solver's path)"))
    say(f"reference: {report['reference'] or 'none'}"
        + (" — imports, and its answers read back through the spec's own judge" if report["simulated"] else ""))
    say("first step prompt:")
    if report["first_prompt"]["system"]:
        say(f"  [dim]system:[/] {_clip(report['first_prompt']['system'], 300)}")
    say(f"  [dim]user:[/] {_clip(report['first_prompt']['user'], 300)}")
    for warning in report["warnings"]:
        warn_line(warning)


def _clip(text: str, limit: int = 160) -> str:
    from rich.markup import escape

    text = " ".join(text.split())
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def register(run_app: typer.Typer) -> None:
    run_app.command("task")(run_task)
