"""`maker run hanoi` and `maker run task FILE`: whole jobs to completion with a live dashboard,
resumable after any crash (`--resume RUN_ID`).

Exit codes: 0 solved, 1 failed (a wrong step) or error, 2 usage or a bad spec, 3 undecided (a step
hit the sample cap), 4 budget exhausted (resumable), 130 interrupted (resumable).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from maker_cli._types import OptionValue
from maker_cli.cli import options
from maker_cli.cli.app import config_path
from maker_cli.cli.display.run_summary import (
    print_estimate,
    print_outcome,
    print_validation,
    print_workflow_check,
    resume_hint,
)
from maker_cli.cli.display.run_view import RunView
from maker_cli.cli.display.workflow_view import WorkflowView
from maker_cli.cli.output import EXIT_CODES, err_console, error_line, is_terminal, out_console, print_json
from maker_cli.config.settings import load_settings
from maker_cli.core.status import RunStatus
from maker_cli.errors import MakerError, UsageError
from maker_cli.jobs.event_log import EventLog
from maker_cli.jobs.run import RunPlan, StartedRun, execute, plan_run, provider_of, report
from maker_cli.jobs.run_result import RunResult
from maker_cli.jobs.run_state import RunOutcome
from maker_cli.specs import WorkflowSpec, load_spec
from maker_cli.tasks.sequence import SequenceTask
from maker_cli.tasks.sequence_path import check_spec
from maker_cli.workflows.check import check_workflow
from maker_cli.workflows.task import WorkflowTask

if TYPE_CHECKING:
    from maker_cli.jobs.metrics import MetricsEndpoint

app = typer.Typer(
    help="Run whole jobs to completion (live progress; resumable after any crash with --resume).",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("hanoi")
@options.shared(*options.RUN_OPTIONS)
def run_hanoi(
    ctx: typer.Context,
    disks: Annotated[int, typer.Option("--disks", "-n", help="Number of disks (1-25): 2^n - 1 steps.")] = 10,
    **opts: OptionValue,
) -> None:
    """Solve Towers of Hanoi step by step with MAKER voting (the paper's headline job)."""
    if opts["resume"] is not None and _given(ctx, "disks"):
        raise UsageError("--resume continues a run with the configuration it was started with; drop --disks")
    plan = plan_run(None if opts["resume"] is not None else "hanoi", disks=disks, **_plan_options(ctx, opts))
    with options.event_log(opts) as log, options.metrics_endpoint(opts) as metrics:
        launch(plan, json_out=opts["json_out"], log=log, metrics=metrics)


@app.command("task")
@options.shared(*options.RUN_OPTIONS)
def run_task(
    ctx: typer.Context,
    spec_file: Annotated[
        Path | None, typer.Argument(metavar="FILE", help="A sequence task spec (YAML).", dir_okay=False)
    ] = None,
    inputs: options.Inputs = [],  # noqa: B006 - typer reads the default, never mutated
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Override termination.steps (fixed-length specs).")
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check the spec (and its reference) without running it.")
    ] = False,
    trust_spec_code: options.TrustSpecCode = False,
    steps_of: Annotated[
        list[str],
        typer.Option("--steps-of", help="A workflow's sequence node length for the estimate: ID=N (repeatable)."),
    ] = [],  # noqa: B006 - typer reads the default, never mutated
    **opts: OptionValue,
) -> None:
    """Run a sequence spec step by step, or a workflow spec (a DAG of voted subtasks), described in YAML.

    See examples/sequential/ and examples/workflows/; `--validate` checks one without running it.
    """
    given_inputs = options.parse_inputs(inputs) if inputs else None
    lengths = options.parse_steps_of(steps_of)
    if validate:
        _validate(spec_file, given_inputs or {}, steps, trust_spec_code, opts["json_out"], lengths)
        return
    if opts["resume"] is None and spec_file is None:
        raise UsageError("give a spec FILE (or --resume RUN_ID)")
    plan = plan_run(
        spec_file,
        inputs=given_inputs,
        steps=steps,
        trust_spec_code=trust_spec_code,
        steps_of=lengths or None,
        **_plan_options(ctx, opts),
    )
    with options.event_log(opts) as log, options.metrics_endpoint(opts) as metrics:
        launch(plan, json_out=opts["json_out"], log=log, metrics=metrics)


def _plan_options(ctx: typer.Context, opts: dict[str, OptionValue]) -> dict[str, OptionValue]:
    """The shared options as `plan_run` keywords."""
    return dict(
        flags=options.job_flags(opts),
        p=opts["p"],
        calibration=opts["calibration"],
        prompt=opts["prompt"],
        keep_going=opts["keep_going"],
        speculate=opts["speculate"],
        adaptive_k=opts["adaptive_k"],
        k_min_floor=opts["k_min_floor"],
        log_samples=opts["log_samples"],
        resume=opts["resume"],
        yes=opts["yes"],
        settings=load_settings(config_path(ctx), store=opts["store"]),
    )


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def launch(
    plan: RunPlan, *, json_out: bool, log: EventLog | None = None, metrics: MetricsEndpoint | None = None
) -> None:
    """Show the estimate, run with a live view (or quietly with --json), report; exit with the status.
    `log`: the --events log (with `--events -` stdout holds the events and people read stderr);
    `metrics`: the --metrics-port endpoint, whose listener counts the events too."""
    to_stdout = log is not None and log.to_stdout
    console = err_console() if json_out or to_stdout else out_console()
    live = console.file.isatty() if to_stdout else is_terminal()
    provider = provider_of(plan.config)
    if not json_out:
        print_estimate(console, plan, provider.info.simulated)
    state: dict[str, StartedRun] = {}
    if isinstance(plan.task, WorkflowTask):
        flow = (
            None
            if json_out
            else WorkflowView(
                console,
                title=f"{plan.task.name} · {plan.config.model} · k={plan.config.k}",
                node_ids=plan.task.node_ids,
                live=live,
            )
        )
    view = (
        None
        if json_out or isinstance(plan.task, WorkflowTask)
        else RunView(
            console,
            title=f"{plan.task.name} · {plan.config.model} · k={plan.config.k}",
            steps_total=plan.task.steps_total,
            start_step=0,
            k=plan.config.k,
            expected_cost=plan.estimate.expected_cost_usd if plan.estimate is not None else None,
            live=live,
        )
    )

    def on_start(started: StartedRun) -> None:
        state["started"] = started
        if view is not None:
            view.start_at(started.totals.steps_done)
        verb = "resuming" if started.resumed else "started"  # with --json on stderr: a script can follow it
        console.print(
            f"{verb} run {started.run_id} at step {started.point.step:,} (store: {plan.store_file})",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )

    counter = metrics.listener if metrics is not None else None

    async def go() -> RunResult:
        if isinstance(plan.task, WorkflowTask) and flow is not None:
            with flow:
                return await execute(
                    plan, provider, on_start=on_start, on_node=flow.on_node, listeners=options.listeners(log, counter)
                )
        if view is None:
            return await execute(plan, provider, on_start=on_start, listeners=options.listeners(log, counter))
        with view:
            return await execute(
                plan,
                provider,
                on_start=on_start,
                on_step=view.on_step,
                listeners=options.listeners(view.on_event, log, counter),
            )

    def dump(result: RunResult) -> None:
        print_json(options.with_metrics(result.model_dump(mode="json"), metrics))

    try:
        result = asyncio.run(go())
    except KeyboardInterrupt:
        started = state.get("started")
        if started is None:
            raise
        err_console().print(f"interrupted: {resume_hint(started)}", highlight=False, soft_wrap=True, markup=False)
        if json_out:  # the one JSON object, as for every other ending
            outcome = RunOutcome(RunStatus.INTERRUPTED, started.totals, started.point)
            dump(report(started, outcome, provider.info.simulated))
        raise typer.Exit(130) from None
    if result.status == RunStatus.ERROR:
        err_console().print(resume_hint(state["started"]), highlight=False, soft_wrap=True, markup=False)
        if json_out:
            dump(result)
        error_line(result.error or "the run stopped with an error")
        raise typer.Exit(1)
    if json_out:
        dump(result)
    else:
        print_outcome(console, result, plan.store_file)
    raise typer.Exit(EXIT_CODES.get(result.status, 1))


def _validate(
    spec_file: Path | None,
    inputs: dict[str, str],
    steps: int | None,
    trust: bool,
    json_out: bool,
    steps_of: dict[str, int] | None = None,
) -> None:
    if spec_file is None:
        raise UsageError("--validate needs a spec FILE")
    try:
        spec = load_spec(spec_file)
        if isinstance(spec, WorkflowSpec):
            if steps is not None:
                raise UsageError("--steps goes with a sequence spec; a workflow takes --steps-of ID=N")
            workflow = check_workflow(WorkflowTask(spec, inputs, trust_code=trust, steps_of=steps_of))
            if json_out:
                print_json(workflow.model_dump(mode="json"))
            else:
                print_workflow_check(workflow, out_console())
            return
        check = check_spec(SequenceTask.from_file(spec_file, inputs, steps, trust_code=trust))
    except MakerError as exc:
        if not json_out:
            raise
        print_json({"valid": False, "spec": str(spec_file), "error": str(exc)})  # the check is the result
        error_line(str(exc))
        raise typer.Exit(exc.exit_code) from None
    if json_out:
        print_json(check.model_dump(mode="json"))
        return
    print_validation(check, out_console())
