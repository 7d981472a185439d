"""`maker run hanoi`: whole jobs to completion with a live dashboard, resumable after any crash.

Exit codes: 0 solved, 1 failed (a wrong step) or error, 2 usage, 3 undecided (a step hit the
sample cap), 4 budget exhausted (resumable), 130 interrupted (resumable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from maker_cli.cli.app import config_path
from maker_cli.cli.output import err_console, is_terminal, out_console, print_json, warn_line
from maker_cli.errors import MakerError, UsageError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maker_cli.config.settings import Settings

EXIT_CODES = {"solved": 0, "failed": 1, "error": 1, "undecided": 3, "budget_exhausted": 4, "interrupted": 130}
LOG_MODES = ("all", "contested", "none")

run_app = typer.Typer(
    help="Run whole jobs to completion (live progress; resumable after any crash with --resume).",
    no_args_is_help=True,
)


def job_options(
    model: Optional[str], k: Optional[int], target: Optional[float], p: Optional[float], calibration: Optional[Path],
    max_samples: Optional[int], eager: Optional[int], concurrency: Optional[int], api_base: Optional[str],
    router_config: Optional[Path], timeout: Optional[float], max_output_tokens: Optional[int],
    temperature: Optional[float], first_temperature: Optional[float], price_in: Optional[float],
    price_out: Optional[float], keep_going: bool, log_samples: str, max_cost: Optional[float],
    steps: int | None, settings: "Settings", spec_defaults: dict[str, Any] | None = None,
) -> Any:
    """A JobConfig from flags > calibration > spec defaults > settings; k from --k or k_min."""
    from maker_cli.jobs.run import JobConfig, choose_k
    from maker_cli.providers.sim import is_sim, parse_sim

    if log_samples not in LOG_MODES:
        raise UsageError(f"--log-samples must be one of {', '.join(LOG_MODES)}, got '{log_samples}'")
    spec_defaults = spec_defaults or {}
    cal = None
    if calibration is not None:
        from maker_cli.jobs.calibration_file import load_calibration

        cal = load_calibration(calibration)
    the_model = model or (spec_defaults.get("model")) or (cal.model if cal else None) or settings.model
    # k: --k > k_min from a measured p (--p, or the calibration's lower bound) > the spec's voting.k
    # > k_min from the simulated model's own p > the configured default
    measured_p = p if p is not None else (cal.p_ci[0] if cal else None)
    the_p = measured_p
    if the_p is None and is_sim(the_model):
        the_p = parse_sim(the_model).p
    if the_p is not None and the_p <= 0.5 and k is None:
        from maker_cli.errors import CannotConverge

        raise CannotConverge(f"p = {the_p:g} <= 0.5: voting cannot converge in the worst case; pass --k to run anyway")
    spec_k = spec_defaults.get("k") if measured_p is None else None
    chosen_k, source = choose_k(
        k=k if k is not None else spec_k, p=the_p, target=target if target is not None else settings.target, steps=steps,
        default_k=settings.k,
    )
    if k is None and spec_k is not None:
        source = "the spec's voting.k"

    def pick(flag: Any, name: str) -> Any:
        if flag is not None:
            return flag
        if spec_defaults.get(name) is not None:
            return spec_defaults[name]
        return getattr(settings, name)

    return JobConfig(
        model=the_model,
        k=chosen_k,
        k_source=source,
        max_samples=pick(max_samples, "max_samples"),
        eager=pick(eager, "eager"),
        first_temperature=pick(first_temperature, "first_temperature"),
        temperature=pick(temperature, "temperature"),
        max_output_tokens=pick(max_output_tokens, "max_output_tokens"),
        must_not_match=tuple(spec_defaults.get("must_not_match") or ()),
        api_base=api_base or settings.api_base,
        router_config=str(router_config or settings.router_config) if (router_config or settings.router_config) else None,
        timeout=timeout if timeout is not None else settings.timeout,
        max_attempts=settings.max_attempts,
        price_in=price_in if price_in is not None else (cal.price_in if cal else settings.price_in),
        price_out=price_out if price_out is not None else (cal.price_out if cal else settings.price_out),
        concurrency=concurrency if concurrency is not None else settings.concurrency,
        keep_going=keep_going,
        log_samples=log_samples,
        max_cost=max_cost,
        p=the_p,
        valid_rate=cal.valid_rate if cal else (1 - parse_sim(the_model).invalid if is_sim(the_model) else None),
        input_tokens=cal.mean_input_tokens if cal else None,
        output_tokens=cal.mean_output_tokens if cal else None,
    )


def provider_for(job: Any) -> Any:
    from maker_cli.providers.factory import make_provider

    return make_provider(
        job.model, api_base=job.api_base, router_config=Path(job.router_config) if job.router_config else None,
        timeout=job.timeout, max_attempts=job.max_attempts, price_in=job.price_in, price_out=job.price_out,
    )


def launch(task: Any, job: Any, *, store_file: Path, resume: str | None, yes: bool, json_out: bool) -> None:
    """Estimate, guard the budget, start or resume, show progress, report; exits with the status code."""
    from maker_cli.jobs.run import check_budget, job_estimate, prepare, run_report
    from maker_cli.store.run_store import RunStore

    provider = provider_for(job)
    simulated = provider.info.simulated
    est = job_estimate(task, job, simulated=simulated)
    expected_cost = est.expected_cost_usd if est is not None else None
    console = out_console() if not json_out else err_console()
    if not json_out:
        _print_estimate(console, task, job, est, simulated)
    if job.max_cost is not None and not (simulated or provider.info.prices_known):
        raise UsageError(
            f"--max-cost needs prices, and {job.model} has none in litellm's price map: give --price-in and "
            "--price-out (USD per million tokens)"
        )
    if resume is None:
        check_budget(expected_cost, job.max_cost, yes=yes)
    with RunStore(store_file) as store:
        prepared = prepare(task, job, store, resume=resume)
        if not json_out:
            verb = "resuming" if prepared.resumed else "started"
            console.print(f"{verb} run [bold]{prepared.run_id}[/] at step {prepared.point.step:,} (store: {store_file})",
                          highlight=False)
        try:
            outcome = _run_with_view(prepared, provider, est, console, json_out, store_file)
        except MakerError as exc:
            err_console().print(_resume_hint(prepared, store_file), highlight=False, soft_wrap=True)
            if json_out:
                from maker_cli.jobs.runner import ERROR, RunOutcome

                report = run_report(prepared, RunOutcome(ERROR, prepared.totals, prepared.point), simulated=simulated)
                print_json({**report, "error": str(exc)})
            raise
        report = run_report(prepared, outcome, simulated=simulated)
    if json_out:
        print_json(report)
    else:
        _print_outcome(console, report, store_file)
    raise typer.Exit(EXIT_CODES.get(outcome.status, 1))


def _run_with_view(prepared: Any, provider: Any, est: Any, console: Any, json_out: bool, store_file: Path) -> Any:
    from maker_cli.cli.display.run_view import RunView
    from maker_cli.jobs.run import execute

    view = None
    if not json_out:
        view = RunView(
            console, title=f"{prepared.task.name} · {prepared.job.model} · k={prepared.job.k}",
            steps_total=prepared.task.steps_total, start_step=prepared.totals.steps_done, k=prepared.job.k,
            expected_cost=est.expected_cost_usd if est is not None else None, live=is_terminal(),
        )

    async def go() -> Any:
        if view is None:
            return await execute(prepared, provider)
        with view:
            return await execute(prepared, provider, on_step=view.on_step, listeners=[view.on_event])

    import asyncio

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        err_console().print(f"interrupted: {_resume_hint(prepared, store_file)}", highlight=False, soft_wrap=True)
        if json_out:  # the one JSON object, as for every other ending
            from maker_cli.jobs.run import run_report
            from maker_cli.jobs.runner import INTERRUPTED, RunOutcome

            outcome = RunOutcome(INTERRUPTED, prepared.totals, prepared.point)
            print_json(run_report(prepared, outcome, simulated=provider.info.simulated))
        raise typer.Exit(130) from None


def _resume_hint(prepared: Any, store_file: Path) -> str:
    return (
        f"run {prepared.run_id} is saved up to its last committed step; resume with\n"
        f"  maker run {prepared.task.kind} --resume {prepared.run_id} --store {store_file}"
    )


def _print_estimate(console: Any, task: Any, job: Any, est: Any, simulated: bool) -> None:
    sim = " \\[simulated model: no API calls]" if simulated else ""
    steps = f"{task.steps_total:,}" if task.steps_total else "open-ended"
    console.print(f"[bold]{task.name}[/]: {steps} steps, model {job.model}{sim}",
                  highlight=False)
    console.print(f"k = {job.k} ({job.k_source})", highlight=False)
    if est is None:
        console.print("estimate: p unknown (give --p or --calibration FILE for k_min, cost and P(success))",
                      highlight=False)
        return
    cost = "unknown" if est.expected_cost_usd is None else f"${est.expected_cost_usd:,.2f} (p95 ${est.cost_p95_usd:,.2f})"
    console.print(
        f"estimate: P(all steps right) = {est.p_full:.4f}, {est.expected_samples_per_step:.3f} samples/step, "
        f"{est.expected_calls:,.0f} samples in all, cost {cost}, "
        f"{est.expected_rounds_per_step or 0:.2f} rounds/step",
        highlight=False, soft_wrap=True,
    )
    for w in est.warnings:
        warn_line(w)


def _print_outcome(console: Any, report: dict[str, Any], store_file: Path) -> None:
    status = report["status"]
    style = {"solved": "bold green", "failed": "bold red", "undecided": "bold yellow"}.get(status, "bold yellow")
    cost = "unknown" if report["cost_usd"] is None else f"${report['cost_usd']:,.4f}"
    total = f"/{report['steps_total']:,}" if report["steps_total"] else ""
    console.print(
        f"[{style}]{status}[/]: {report['steps_done']:,}{total} steps, {report['errors']} wrong, "
        f"{report['samples']:,} samples ({report['red_flagged']:,} red-flagged), {report['call_errors']} call errors, "
        f"{report['retries']} retries, cost {cost}, {report['wall_s']:.1f} s"
        + (" \\[simulated]" if report["simulated"] else ""),
        highlight=False, soft_wrap=True,
    )
    if status == "solved" and report.get("final_state") is not None:
        import json

        final = json.dumps(report["final_state"], ensure_ascii=False)
        console.print(f"final state: {final if len(final) <= 2000 else final[:1999] + '…'}", markup=False,
                      highlight=False, soft_wrap=True)
    if report.get("failed_step"):
        f = report["failed_step"]
        console.print(
            f"first wrong step {f['step']}: from state {f['state']} the vote chose {f['decided_action']} → "
            f"{f['decided_state']} (tallies {f['tallies']})",
            highlight=False, soft_wrap=True,
        )
    again = f"maker run {report['kind']} --resume {report['run_id']} --store {store_file}"
    if status == "budget_exhausted":
        console.print(f"resume with a higher cap: {again} --max-cost USD", highlight=False, soft_wrap=True)
    elif status in ("interrupted", "undecided"):
        console.print(f"resume with: {again}", highlight=False, soft_wrap=True)
    elif status == "failed" and report["steps_done"] < (report["steps_total"] or 0):
        console.print(f"to continue from the wrong state anyway: {again} --keep-going", highlight=False,
                      soft_wrap=True)


class RunOpt:
    """Options `run hanoi` and `run task` share (one definition, one help text)."""

    model = typer.Option(None, "--model", "-m", help="litellm model string, or sim:... (simulated).")
    k = typer.Option(
        None, "--k", "-k", min=1, help="Vote margin (default: k_min from --p/--calibration; else a spec's voting.k)."
    )
    target = typer.Option(None, "--target", "-t", help="Target P(every step right) for k_min.")
    p = typer.Option(None, "--p", help="P(one valid sample is correct), for k_min and the estimate.")
    calibration = typer.Option(None, "--calibration", help="Calibration file from `maker calibrate`.")
    max_samples = typer.Option(None, "--max-samples", min=1, help="Per-step sample cap (undecided).")
    eager = typer.Option(None, "--eager", min=0, help="Extra samples per round.")
    concurrency = typer.Option(None, "--concurrency", "-c", min=1, help="Calls in flight at once.")
    api_base = typer.Option(None, "--api-base", help="OpenAI-compatible server base URL.")
    router_config = typer.Option(None, "--router-config", help="litellm Router config (YAML).")
    timeout = typer.Option(None, "--timeout", help="Seconds per call.")
    max_output_tokens = typer.Option(None, "--max-output-tokens", min=1, help="Red-flag longer responses.")
    temperature = typer.Option(None, "--temperature", min=0, help="Temperature after the first sample.")
    first_temperature = typer.Option(None, "--first-temperature", min=0, help="First sample's temperature.")
    price_in = typer.Option(None, "--price-in", min=0, help="USD per million input tokens.")
    price_out = typer.Option(None, "--price-out", min=0, help="USD per million output tokens.")
    store = typer.Option(None, "--store", help="SQLite run store (default: user data dir; MAKER_STORE).")
    log_samples = typer.Option("contested", "--log-samples", help="Raw samples to keep: all, contested, none.")
    keep_going = typer.Option(False, "--keep-going", help="Continue past a wrong step (see if the run recovers).")
    max_cost = typer.Option(None, "--max-cost", min=0, help="USD cap: refuse if expected above; stop at it.")
    yes = typer.Option(False, "--yes", "-y", help="Start even if the expected cost exceeds --max-cost.")
    resume = typer.Option(None, "--resume", help="Continue a stored run from its last committed step.")
    json_out = typer.Option(False, "--json", help="Print one JSON object at the end.")


@run_app.command("hanoi")
def run_hanoi(
    ctx: typer.Context,
    disks: int = typer.Option(10, "--disks", "-n", help="Number of disks (1-25): 2^n - 1 steps."),
    model: Optional[str] = RunOpt.model,
    k: Optional[int] = RunOpt.k,
    target: Optional[float] = RunOpt.target,
    p: Optional[float] = RunOpt.p,
    calibration: Optional[Path] = RunOpt.calibration,
    max_samples: Optional[int] = RunOpt.max_samples,
    eager: Optional[int] = RunOpt.eager,
    concurrency: Optional[int] = RunOpt.concurrency,
    api_base: Optional[str] = RunOpt.api_base,
    router_config: Optional[Path] = RunOpt.router_config,
    timeout: Optional[float] = RunOpt.timeout,
    max_output_tokens: Optional[int] = RunOpt.max_output_tokens,
    temperature: Optional[float] = RunOpt.temperature,
    first_temperature: Optional[float] = RunOpt.first_temperature,
    price_in: Optional[float] = RunOpt.price_in,
    price_out: Optional[float] = RunOpt.price_out,
    store: Optional[Path] = RunOpt.store,
    log_samples: str = RunOpt.log_samples,
    keep_going: bool = RunOpt.keep_going,
    max_cost: Optional[float] = RunOpt.max_cost,
    yes: bool = RunOpt.yes,
    resume: Optional[str] = RunOpt.resume,
    json_out: bool = RunOpt.json_out,
) -> None:
    """Solve Towers of Hanoi step by step with MAKER voting (the paper's headline job)."""
    from maker_cli.tasks.base import HanoiTask

    from maker_cli.config.settings import load_settings

    settings = load_settings(config_path(ctx), store=store)
    store_file = _store_file(settings)
    if resume is not None:
        refuse_with_resume(ctx, RESUME_FIXED + ("disks",))
        task, job = _resumed(store_file, resume, max_cost, keep_going, concurrency, timeout)
    else:
        task = HanoiTask(disks)
        job = job_options(
            model, k, target, p, calibration, max_samples, eager, concurrency, api_base, router_config, timeout,
            max_output_tokens, temperature, first_temperature, price_in, price_out, keep_going, log_samples,
            max_cost, task.steps_total, settings,
        )
    launch(task, job, store_file=store_file, resume=resume, yes=yes, json_out=json_out)


def _store_file(settings: "Settings") -> Path:
    from maker_cli.jobs.run import store_path

    return store_path(settings.store)


# options that define a job: a resumed run keeps the ones it was started with
RESUME_FIXED = (
    "model", "k", "target", "p", "calibration", "max_samples", "eager", "api_base", "router_config",
    "max_output_tokens", "temperature", "first_temperature", "price_in", "price_out", "log_samples",
)


def refuse_with_resume(ctx: typer.Context, names: tuple[str, ...]) -> None:
    """UsageError if any of these options was given on the command line together with --resume."""
    given = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            given.append("--" + name.replace("_", "-"))
    if given:
        raise UsageError(
            f"--resume continues a run with the configuration it was started with; drop {', '.join(given)} "
            "(only --max-cost, --keep-going, --concurrency, --timeout, --store and --json may change)"
        )


def _resumed(
    store_file: Path, run_id: str, max_cost: float | None, keep_going: bool = False,
    concurrency: int | None = None, timeout: float | None = None,
) -> tuple[Any, Any]:
    """Re-create the task and job of a stored run; spending and pacing options may change on resume."""
    from maker_cli.jobs.run import job_from_record
    from maker_cli.store.run_store import RunStore
    from maker_cli.tasks.base import task_from_config

    if not store_file.is_file():
        raise UsageError(f"no run store at {store_file}; pass --store PATH")
    with RunStore(store_file) as store:
        record = store.get_run(run_id)
    task_config, job = job_from_record(record)
    if max_cost is not None:
        job.max_cost = max_cost
    if keep_going:
        job.keep_going = True
    if concurrency is not None:
        job.concurrency = concurrency
    if timeout is not None:
        job.timeout = timeout
    return task_from_config(task_config), job


def register(app: typer.Typer) -> None:
    app.add_typer(run_app, name="run")
    from maker_cli.cli import run_task_cmd

    run_task_cmd.register(run_app)
