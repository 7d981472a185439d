"""`maker calibrate`: measure p and the valid rate of a model on a task, and recommend k.

    maker calibrate hanoi --model gpt-4.1-mini --disks 20 --samples 1000 --out calibration.json
    maker calibrate task examples/arithmetic.yaml --dataset items.jsonl --model gpt-4.1-mini
    maker calibrate task examples/sequential/addition.yaml --model gpt-4.1-mini --samples 500

A sequential spec (one with `initial_state`) needs no dataset: its reference solver's path is walked
(at most 1,000,000 steps) and random steps of it are sampled, each prompt built as the runner builds it.

Exit codes: 0 measured, 1 voting cannot converge (the upper bound of p <= 0.5, or every sample
red-flagged; the report is printed first) or an error, 2 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from maker_cli.cli.app import config_path

calibrate_app = typer.Typer(
    help="Measure a model's p (P(a valid sample is correct)) and valid rate on a task, with 95% "
    "Wilson intervals; recommend k and write a calibration file for `estimate` and `run`.",
    no_args_is_help=True,
)

DATASET_HELP = (
    "JSONL: one object per line, either {\"inputs\": {...}, \"expected\": \"...\"} or flat "
    "{\"a\": ..., \"expected\": \"...\"} (every key an input; `expected` is the correct answer)."
)


def _model_opt() -> Any:
    return typer.Option(None, "--model", "-m", help="litellm model string, or sim:... (simulated).")


def _common(
    model: Optional[str] = None, api_base: Optional[str] = None, router_config: Optional[Path] = None,
    temperature: Optional[float] = None, samples: Optional[int] = None, concurrency: Optional[int] = None,
    seed: int = 0, pairs: bool = False, target: Optional[float] = None, steps: Optional[int] = None,
    max_output_tokens: Optional[int] = None, price_in: Optional[float] = None, price_out: Optional[float] = None,
    out: Optional[Path] = None, json_out: bool = False, timeout: Optional[float] = None,
) -> dict[str, Any]:
    return dict(locals())


@calibrate_app.command("hanoi")
def calibrate_hanoi_cmd(
    ctx: typer.Context,
    disks: int = typer.Option(10, "--disks", "-n", help="Number of disks (1-25); steps are drawn from its 2^n - 1."),
    model: Optional[str] = _model_opt(),
    samples: int = typer.Option(1000, "--samples", min=1, help="Samples to draw (one per random step)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0, help="Sampling temperature (default: the voting temperature, 0.1)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", min=1, help="Calls in flight at once."),
    seed: int = typer.Option(0, "--seed", help="Seed for the choice of steps."),
    pairs: bool = typer.Option(False, "--pairs", help="Two samples per step: measure whether errors collide (correlate)."),
    target: Optional[float] = typer.Option(None, "--target", "-t", help="Target P(all steps right) for the recommended k."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Steps of the job to recommend k for (default 2^n - 1)."),
    max_output_tokens: Optional[int] = typer.Option(None, "--max-output-tokens", min=1, help="Red-flag longer responses."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="OpenAI-compatible server base URL."),
    router_config: Optional[Path] = typer.Option(None, "--router-config", help="litellm Router config (YAML)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per call."),
    price_in: Optional[float] = typer.Option(None, "--price-in", min=0, help="USD per million input tokens."),
    price_out: Optional[float] = typer.Option(None, "--price-out", min=0, help="USD per million output tokens."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the calibration file (JSON) here.", dir_okay=False),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Sample random steps of the optimal Hanoi solution once each and measure p and the valid rate."""
    from maker_cli.tasks import hanoi
    from maker_cli.jobs.calibrate import calibrate_hanoi
    from maker_cli.core.redflags import RedFlagRules

    opts = _common(model, api_base, router_config, temperature, samples, concurrency, seed, pairs, target, steps,
                   max_output_tokens, price_in, price_out, out, json_out, timeout)
    settings, provider = _setup(ctx, opts, model)
    total_steps = steps or hanoi.steps_total(hanoi.check_disks(disks))
    rules = RedFlagRules(max_output_tokens=settings.max_output_tokens)
    title = f"hanoi, {disks} disks"

    def run(progress: Callable[..., None] | None) -> Any:
        return calibrate_hanoi(
            provider, disks=disks, samples=samples, temperature=_temperature(opts, settings), pairs=pairs,
            concurrency=settings.concurrency, seed=seed, rules=rules, on_progress=progress,
        )

    _execute(run, provider, settings, opts, title=title, steps=total_steps, probe_name="step")


@calibrate_app.command("task")
def calibrate_task_cmd(
    ctx: typer.Context,
    task: Path = typer.Argument(..., help="A YAML task spec: single-question (give --dataset) or sequential "
                                "(with a reference solver; see examples/sequential/).", dir_okay=False),
    dataset: Optional[Path] = typer.Option(None, "--dataset", "-d", help=DATASET_HELP + " Single-question specs only.",
                                           dir_okay=False),
    inputs: List[str] = typer.Option([], "--input", "-i", help="Sequential specs: an input as key=value "
                                     "(repeatable; @file reads one), as for `maker run task`."),
    model: Optional[str] = _model_opt(),
    samples: Optional[int] = typer.Option(None, "--samples", min=1, help="Samples to draw (default: one per item, "
                                          "cycling through the items when more; sequential specs: 1000, one per "
                                          "random step of the reference path)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0, help="Sampling temperature (default: the spec's voting temperature, else 0.1)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", min=1, help="Calls in flight at once."),
    seed: int = typer.Option(0, "--seed", help="Seed for the order of the items (sequential specs: the choice of steps)."),
    pairs: bool = typer.Option(False, "--pairs", help="Two samples per item or step: measure whether errors collide (correlate)."),
    target: Optional[float] = typer.Option(None, "--target", "-t", help="Target P(all steps right) for the recommended k."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Steps of the job to recommend k for (default: "
                                        "the dataset size; sequential specs: the reference path's length)."),
    max_output_tokens: Optional[int] = typer.Option(None, "--max-output-tokens", min=1, help="Red-flag longer responses (default: the spec's limit)."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="OpenAI-compatible server base URL."),
    router_config: Optional[Path] = typer.Option(None, "--router-config", help="litellm Router config (YAML)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per call."),
    price_in: Optional[float] = typer.Option(None, "--price-in", min=0, help="USD per million input tokens."),
    price_out: Optional[float] = typer.Option(None, "--price-out", min=0, help="USD per million output tokens."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the calibration file (JSON) here.", dir_okay=False),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Measure p and the valid rate of a task spec: a single-question spec over a labelled dataset, or
    a sequential spec on random steps of its reference solver's path (no dataset needed)."""
    from maker_cli.jobs.calibrate import calibrate_spec, load_dataset
    from maker_cli.errors import UsageError
    from maker_cli.core.redflags import RedFlagRules
    from maker_cli.specs.question import load_spec

    opts = _common(model, api_base, router_config, temperature, samples, concurrency, seed, pairs, target, steps,
                   max_output_tokens, price_in, price_out, out, json_out, timeout)
    from maker_cli.specs.sequence import is_sequential_file

    if is_sequential_file(task):
        if dataset is not None:
            raise UsageError(
                f"{task} is a sequential spec: it is calibrated on random steps of its reference solver's path, "
                "not on a dataset; drop --dataset (give its inputs with --input key=value)"
            )
        _calibrate_sequential(ctx, task, inputs, opts)
        return
    spec = load_spec(task)
    if dataset is None:
        raise UsageError(
            f"{task} is a single-question spec: calibrating it needs a labelled dataset (--dataset items.jsonl, "
            "one {\"inputs\": {...}, \"expected\": ...} per line). Sequential specs (with initial_state) are "
            "calibrated on their reference solver's path instead"
        )
    if inputs:
        raise UsageError("--input applies to sequential specs; a single-question spec takes its inputs from "
                         "the dataset's lines")
    items = load_dataset(dataset, spec.inputs)
    if temperature is None and spec.voting.temperature is not None:
        opts["temperature"] = spec.voting.temperature
    settings, provider = _setup(ctx, opts, model or spec.model)
    if max_output_tokens is not None:
        rules = RedFlagRules(max_output_tokens=max_output_tokens, must_not_match=tuple(spec.red_flags.must_not_match))
    else:
        rules = spec.red_flag_rules(settings.max_output_tokens)
    title = f"task {spec.name}, {len(items):,} items"

    def run(progress: Callable[..., None] | None) -> Any:
        return calibrate_spec(
            provider, spec, items, samples=samples, temperature=_temperature(opts, settings), pairs=pairs,
            concurrency=settings.concurrency, seed=seed, rules=rules, on_progress=progress,
        )

    _execute(run, provider, settings, opts, title=title, steps=steps or len(items), probe_name="item")


DEFAULT_SEQUENCE_SAMPLES = 1000


def _calibrate_sequential(ctx: typer.Context, path: Path, inputs: list[str], opts: dict[str, Any]) -> None:
    """A sequential spec: walk the reference path (capped), sample random steps of it, recommend k over it."""
    from maker_cli.jobs.calibrate import calibrate_sequence, reference_path
    from maker_cli.cli.common import parse_inputs
    from maker_cli.errors import UsageError
    from maker_cli.core.redflags import RedFlagRules
    from maker_cli.tasks.sequence import SpecTask

    task = SpecTask.from_file(path, parse_inputs(inputs))
    if task.spec.reference is None:
        raise UsageError(
            f"{path}: calibration needs the correct answer to each step: a sequential spec must name a reference "
            "solver (`reference: module:function`), and this one names none. (A single-question spec is "
            "calibrated on a labelled --dataset instead.)"
        )
    ref_path = reference_path(task)
    defaults = task.job_defaults()
    if opts["temperature"] is None and defaults["temperature"] is not None:
        opts["temperature"] = defaults["temperature"]
    settings, provider = _setup(ctx, opts, opts["model"] or defaults["model"])
    limit = opts["max_output_tokens"] if opts["max_output_tokens"] is not None else defaults["max_output_tokens"]
    rules = RedFlagRules(max_output_tokens=limit if limit is not None else settings.max_output_tokens,
                         must_not_match=tuple(defaults["must_not_match"] or ()))
    count = opts["samples"] if opts["samples"] is not None else DEFAULT_SEQUENCE_SAMPLES
    if ref_path.capped:
        title = (f"task {task.name}, the first {ref_path.steps:,} steps of its reference path "
                 f"(the walk stops at {ref_path.cap:,})")
    else:
        title = f"task {task.name}, reference path of {ref_path.steps:,} steps"

    def run(progress: Callable[..., None] | None) -> Any:
        return calibrate_sequence(
            provider, task, samples=count, temperature=_temperature(opts, settings), pairs=opts["pairs"],
            concurrency=settings.concurrency, seed=opts["seed"], rules=rules, on_progress=progress, path=ref_path,
        )

    _execute(run, provider, settings, opts, title=title, steps=opts["steps"] or ref_path.planning_steps,
             probe_name="step")


# --------------------------------------------------------------------------- shared flow


def _setup(ctx: typer.Context, opts: dict[str, Any], model: Optional[str]) -> tuple[Any, Any]:
    from maker_cli.cli.common import build_provider
    from maker_cli.config.settings import load_settings

    settings = load_settings(
        config_path(ctx), model=model, api_base=opts["api_base"], router_config=opts["router_config"],
        concurrency=opts["concurrency"], max_output_tokens=opts["max_output_tokens"], timeout=opts["timeout"],
        price_in=opts["price_in"], price_out=opts["price_out"],
    )
    return settings, build_provider(settings)


def _temperature(opts: dict[str, Any], settings: Any) -> float:
    return opts["temperature"] if opts["temperature"] is not None else settings.temperature


def _execute(run: Callable[[Any], Any], provider: Any, settings: Any, opts: dict[str, Any], *, title: str,
             steps: int, probe_name: str) -> None:
    """Calibrate (with a progress bar on a terminal), recommend, write --out, print; exit 1 if hopeless."""
    from maker_cli.jobs.calibrate import cannot_converge_message, recommend, to_calibration
    from maker_cli.jobs.calibration_file import save_calibration
    from maker_cli.cli.output import is_terminal, out_console, print_json, warn_line
    from maker_cli.errors import CannotConverge

    json_out = opts["json_out"]
    import asyncio

    report = asyncio.run(_calibrate(run, provider, live=is_terminal() and not json_out))
    target = opts["target"] if opts["target"] is not None else settings.target
    rec = recommend(report, steps=steps, target=target, price_in=settings.price_in, price_out=settings.price_out)
    warnings = _warnings(report, rec, json_out=json_out)
    hopeless = cannot_converge_message(report)
    written = None
    if opts["out"] is not None:
        if report.p is None:
            warnings.append(f"no calibration file written to {opts['out']}: p is unknown (no valid sample)")
        else:
            saved_prices = (rec["price_in"], rec["price_out"]) if rec["price_source"] != "simulated" else (
                settings.price_in, settings.price_out)
            save_calibration(to_calibration(report, price_in=saved_prices[0], price_out=saved_prices[1]), opts["out"])
            written = str(opts["out"])
    for line in warnings:
        warn_line(line)
    if json_out:
        print_json({**report.to_dict(), "recommended_k": rec["recommended_k"], "recommendation": rec,
                    "calibration_file": written, "warnings": warnings})
    else:
        render(report, rec, out_console(), title=title, probe_name=probe_name, written=written)
    if hopeless is not None:
        raise CannotConverge(hopeless)


async def _calibrate(run: Callable[[Any], Any], provider: Any, *, live: bool) -> Any:
    try:
        if not live:
            return await run(None)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from maker_cli.cli.output import out_console

        columns = (
            TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), TimeRemainingColumn(),
        )
        with Progress(*columns, console=out_console(), transient=True) as bar:
            task_id = bar.add_task("calibrate", total=None, status="")

            def on_progress(p: Any) -> None:
                share = f"p ≈ {p.correct / p.valid:.4f}" if p.valid else ""
                failed = f", {p.call_errors} failed calls" if p.call_errors else ""
                bar.update(task_id, completed=p.done, total=p.total, status=f"{share}{failed}")

            return await run(on_progress)
    finally:
        await provider.aclose()


def _warnings(report: Any, rec: dict[str, Any], *, json_out: bool) -> list[str]:
    from maker_cli.jobs.calibrate import cannot_converge_message

    out = []
    pairs = report.pairs
    if pairs is not None and pairs.correlated:
        out.append(
            f"errors are correlated: {pairs.collisions} pairs gave the same wrong answer twice, against "
            f"{pairs.expected_collisions:.3g} expected if errors were independent (one-sided p = {pairs.p_value:.2g}). "
            "Some steps are much harder than others, so voting will do worse than the maths says; "
            "use a larger k than recommended, improve the prompt, or decompose the task further"
        )
    if report.call_errors:
        out.append(f"{report.call_errors} calls failed after their retries; they are not counted as samples")
    if json_out and rec["message"] and rec["recommended_k"] is None and cannot_converge_message(report) is None:
        out.append(rec["message"])  # people read it under the recommendation
    return out


# --------------------------------------------------------------------------- rendering


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _ci(ci: Any) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _usd(x: float | None) -> str:
    if x is None:
        return "unknown"
    if x >= 100:
        return f"${x:,.0f}"
    if x >= 0.01 or x == 0:
        return f"${x:,.2f}"
    return f"${x:.3g}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def render(report: Any, rec: dict[str, Any], console: Any, *, title: str, probe_name: str,
           written: str | None) -> None:
    """The human view: what was sampled, the table of measures, pairs, the recommendation."""
    from rich.markup import escape
    from rich.table import Table

    sim = " [dim](simulated model: no API calls)[/]" if report.simulated else ""
    console.print(f"[bold]maker calibrate[/] {escape(title)}, model {escape(report.model)}{sim}",
                  highlight=False, soft_wrap=True)
    failed = f"{report.call_errors:,} failed calls (not samples), " if report.call_errors else "0 failed calls, "
    per = "two on each of" if report.pairs is not None else "one on each of"
    console.print(
        f"{report.samples:,} samples at temperature {report.temperature:g}, {per} {report.probes:,} random "
        f"{probe_name}s ({report.distinct_probes:,} distinct, seed {report.seed}); {failed}"
        f"{report.retries:,} retries; {report.wall_s:.1f} s",
        highlight=False, soft_wrap=True,
    )
    t = Table(box=None, pad_edge=False, header_style="bold")
    t.add_column("measure", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column(f"{report.confidence:.0%} interval ({report.method})", no_wrap=True)
    t.add_column("counts", overflow="fold")
    t.add_row("p", _pct(report.p), _ci(report.p_ci), f"{report.correct:,} correct of {report.valid:,} valid samples")
    t.add_row("valid rate", _pct(report.valid_rate), _ci(report.valid_rate_ci),
              f"{report.valid:,} valid of {report.samples:,} samples")
    if report.hanoi is not None:
        for name, part in (("p, disk-1 steps", report.hanoi.disk1), ("p, other steps", report.hanoi.other)):
            t.add_row(name, _pct(part.estimate), _ci(part.ci), f"{part.successes:,} of {part.trials:,}")
    t.add_row("red flags", f"{report.red_flagged:,}", "", _counts(report.red_flag_details))
    wrong = report.valid - report.correct
    if report.hanoi is not None:
        detail = f"wrong move {report.hanoi.wrong_move:,}, right move with wrong state {report.hanoi.right_move_wrong_state:,}"
    else:
        detail = "answers that differ from the expected one"
    t.add_row("wrong answers", f"{wrong:,}", "", detail)
    tin = "-" if report.mean_input_tokens is None else f"{report.mean_input_tokens:,.0f}"
    tout = "-" if report.mean_output_tokens is None else f"{report.mean_output_tokens:,.1f}"
    t.add_row("tokens in / out", f"{tin} / {tout}", "", "means per call (input: the prompt, per request)")
    spent = "" if report.cost_usd is None else f"; {_usd(report.cost_usd)} spent in all"
    t.add_row("cost / call", _usd(report.cost_per_call_usd), "", ("simulated" if report.simulated else "mean") + spent)
    console.print(t)
    if report.pairs is not None:
        pr = report.pairs
        verdict = "[bold red]correlated[/]" if pr.correlated else "[green]consistent with independent errors[/]"
        console.print(
            f"pairs: {pr.both_valid:,} {probe_name}s with two valid samples, {pr.both_wrong:,} both wrong, "
            f"{pr.collisions:,} collisions (same wrong answer) against {pr.expected_collisions:.3g} expected "
            f"under independence (one-sided p = {pr.p_value:.2g}): {verdict}",
            highlight=False, soft_wrap=True,
        )
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False, soft_wrap=True)
    console.print()
    _render_recommendation(report, rec, console)
    if written:
        console.print(f"calibration written to {written} (use it with: maker estimate --calibration {written} "
                      f"--steps N; maker run ... --calibration {written})", highlight=False, soft_wrap=True)


def _render_recommendation(report: Any, rec: dict[str, Any], console: Any) -> None:
    steps, target = rec["steps"], rec["target"]
    if rec["recommended_k"] is None:
        from maker_cli.jobs.calibrate import cannot_converge_message

        why = rec["message"] if rec["message"] and cannot_converge_message(report) is None else "see the error below"
        console.print(f"[bold]recommendation[/] for {steps:,} steps at target {target:g}: none ({why})",
                      highlight=False, soft_wrap=True)
        return
    point = rec["k_at_point_estimate"]
    console.print(
        f"[bold]recommended k = {rec['recommended_k']}[/] for P(all {steps:,} steps right) >= {target:g}, "
        f"from the lower bound p = {rec['p_used']:.4f}" + (f" (the point estimate gives k = {point})" if point else ""),
        highlight=False, soft_wrap=True,
    )
    cost = _usd(rec["expected_cost_usd"])
    if rec["price_source"] == "simulated":
        cost += " (simulated)"
    elif rec["expected_cost_usd"] is None:
        cost += " (give --price-in/--price-out)"
    console.print(
        f"  expected: {rec['expected_samples_per_step']:.3f} samples/step, {rec['expected_calls']:,.0f} samples "
        f"in all, cost {cost}; P(all steps right) = {rec['p_full']:.4f} at the bound",
        highlight=False, soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(calibrate_app, name="calibrate")
