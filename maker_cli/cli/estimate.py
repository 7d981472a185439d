"""`maker estimate`: what a MAKER job will need before it runs (k, reliability, calls, cost, time)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from maker_cli.cli import options
from maker_cli.cli.app import config_path
from maker_cli.cli.display.estimate_view import render
from maker_cli.cli.display.sweep_plot import check_plot_file, print_chart, sweep_series, write_chart
from maker_cli.cli.output import out_console, print_json, warn_line
from maker_cli.config.settings import load_settings
from maker_cli.errors import UsageError
from maker_cli.jobs.estimate import estimate as run_estimate

HELP = """Estimate a MAKER job before spending anything: k, P(success), calls, cost, time.

From p = the probability that one valid sample is correct, the vote margin k, votes, calls, tokens,
cost percentiles, parallel rounds, wall time, and P(a step ends undecided) at the sample cap or the
red-flag limit. Worst case throughout: all wrong samples agree.

Example: maker estimate --steps 1048575 --p 0.9978 --output-tokens 538 --model gpt-4.1-mini
"""

app = typer.Typer(add_completion=False)


@app.command("estimate", help=HELP)
def estimate(
    ctx: typer.Context,
    steps: Annotated[int | None, typer.Option("--steps", "-s", help="Dependent steps in the job (s).")] = None,
    p: Annotated[
        float | None, typer.Option("--p", "-p", help="P(one valid sample is correct), per step; in (0.5, 1].")
    ] = None,
    target: Annotated[
        float | None,
        typer.Option("--target", "-t", help="Target P(all steps correct) (default 0.95, or the settings)."),
    ] = None,
    m: Annotated[int, typer.Option("--m", help="Steps per agent (1 = maximal decomposition).")] = 1,
    k: Annotated[int | None, typer.Option("--k", help="Evaluate this vote margin instead of k_min.")] = None,
    valid_rate: Annotated[
        float | None, typer.Option("--valid-rate", "-v", help="Share of samples not red-flagged (default 1).")
    ] = None,
    input_tokens: Annotated[
        float | None, typer.Option("--input-tokens", help="Input tokens per one-step call.")
    ] = None,
    output_tokens: Annotated[
        float | None, typer.Option("--output-tokens", help="Output tokens per one-step call.")
    ] = None,
    cached_share: Annotated[
        float | None,
        typer.Option(
            "--cached-share",
            min=0,
            max=1,
            help="Share of input tokens served from the prompt cache, priced at the model's cache rate "
            "(default: the calibration's, else 0).",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model whose prices to use (litellm's price map, offline).")
    ] = None,
    price_in: Annotated[float | None, typer.Option("--price-in", help="USD per million input tokens.")] = None,
    price_out: Annotated[float | None, typer.Option("--price-out", help="USD per million output tokens.")] = None,
    latency: Annotated[
        float | None, typer.Option("--latency", help="Seconds per call (the median), for the wall time.")
    ] = None,
    latency_p95: Annotated[
        float | None, typer.Option("--latency-p95", help="The p95 of a call's seconds: a lognormal spread.")
    ] = None,
    latency_sd: Annotated[
        float | None, typer.Option("--latency-sd", help="Or the standard deviation of a call's seconds.")
    ] = None,
    speculate: Annotated[
        int, typer.Option("--speculate", min=0, max=64, help="The wall time with --speculate D as well.")
    ] = 0,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Calls in flight at once (default: the settings, 16).")
    ] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="USD available: what target it reaches.")] = None,
    max_samples: Annotated[
        int | None, typer.Option("--max-samples", help="Per-step sample cap: P(a step ends undecided).")
    ] = None,
    max_red_flags: options.MaxRedFlags = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            dir_okay=False,
            help="Calibration file (p, valid rate, tokens, model, prices); flags override it.",
        ),
    ] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Add a table over k around k_min.")] = False,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot", help="Chart the sweep in the terminal: expected cost and P(success) against k (implies --sweep)."
        ),
    ] = False,
    plot_file: Annotated[
        Path | None,
        typer.Option(
            "--plot-file",
            dir_okay=False,
            help="Write the chart to FILE instead: .html (plotly) or .txt (text); implies --plot and --sweep.",
        ),
    ] = None,
    task: Annotated[
        Path | None,
        typer.Option("--task", dir_okay=False, help="A workflow spec: its voted steps, critical path and wall time."),
    ] = None,
    inputs: options.Inputs = [],  # noqa: B006 - typer reads the default, never mutated
    steps_of: Annotated[
        list[str], typer.Option("--steps-of", help="With --task: a sequence node's length, ID=N (repeatable).")
    ] = [],  # noqa: B006 - typer reads the default, never mutated
    json_out: options.Json = False,
) -> None:
    if plot and json_out and plot_file is None:
        raise UsageError("--plot draws in the terminal, and --json keeps stdout for the JSON: add --plot-file FILE")
    if plot_file is not None:
        check_plot_file(plot_file)  # a bad file name or a missing plotly: before anything is computed
    report = run_estimate(
        task=task,
        inputs=options.parse_inputs(inputs) if inputs else None,
        steps_of=options.parse_steps_of(steps_of) or None,
        steps=steps,
        p=p,
        target=target,
        m=m,
        k=k,
        valid_rate=valid_rate,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_share=cached_share,
        model=model,
        price_in=price_in,
        price_out=price_out,
        latency=latency,
        latency_p95=latency_p95,
        latency_sd=latency_sd,
        speculate=speculate,
        concurrency=concurrency,
        budget=budget,
        max_samples=max_samples,
        max_red_flags=max_red_flags,
        sweep=sweep or plot or plot_file is not None,  # the chart is the sweep's
        calibration=calibration,
        settings=load_settings(config_path(ctx)),
    )
    for line in report.warnings:
        warn_line(line)
    series = sweep_series(report) if plot or plot_file is not None else None
    if series is not None and plot_file is not None:
        write_chart(series, plot_file)
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    console = out_console()
    render(report, console)
    if series is None:
        return
    if plot_file is not None:
        console.print(f"wrote the chart of the sweep to {plot_file}", highlight=False, markup=False, soft_wrap=True)
        return
    print_chart(series, console)
