"""`maker calibrate`: measure p and the valid rate of a model on a task, and recommend k.

    maker calibrate hanoi --model gpt-4.1-mini --disks 20 --samples 1000 --out calibration.json
    maker calibrate task examples/arithmetic.yaml --dataset items.jsonl --model gpt-4.1-mini
    maker calibrate task examples/sequential/addition.yaml --model gpt-4.1-mini --samples 500

A sequence spec needs no dataset: its reference solver's path is walked (at most 1,000,000 steps)
and random steps of it are sampled, each prompt built as the runner builds it.

Exit codes: 0 measured, 1 voting cannot converge (the upper bound of p <= 0.5, or every sample
red-flagged; the report is printed first) or an error, 2 usage.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from maker_cli._types import OptionValue
from maker_cli.cli import options
from maker_cli.cli.app import config_path
from maker_cli.cli.display.calibrate_view import CalibrationBar, render, render_comparison
from maker_cli.cli.output import err_console, is_terminal, out_console, print_json, warn_line
from maker_cli.config.settings import load_settings
from maker_cli.errors import CannotConverge, UsageError
from maker_cli.jobs.calibrate import acalibrate
from maker_cli.jobs.calibration_result import CalibrationResult
from maker_cli.jobs.event_log import EventLog
from maker_cli.jobs.prompt_compare import DEFAULT, PromptComparison, acompare_prompts

if TYPE_CHECKING:
    from maker_cli.jobs.metrics import MetricsEndpoint

app = typer.Typer(
    help="Measure a model's p (P(a valid sample is correct)) and valid rate on a task, with 95% "
    "Wilson intervals; recommend k and write a calibration file for `estimate` and `run`.",
    no_args_is_help=True,
    add_completion=False,
)

DATASET_HELP = (
    'JSONL: one object per line, either {"inputs": {...}, "expected": "..."} or flat '
    '{"a": ..., "expected": "..."} (every key an input; `expected` is the correct answer).'
)
Samples = Annotated[
    int | None,
    typer.Option(
        "--samples",
        min=1,
        help=(
            "Samples to draw (default: Hanoi and sequence specs 1000, one per random step; question specs one "
            "per dataset item, cycling through the items when more)."
        ),
    ),
]
Temperature = Annotated[
    float | None,
    typer.Option(
        "--temperature",
        min=0,
        help=("Sampling temperature (default: the voting temperature: the spec's, else the settings', 0.1)."),
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for the choice of steps or the order of the items.")]
Pairs = Annotated[
    bool, typer.Option("--pairs", help="Two samples per probe: measure whether errors collide (correlate).")
]
Steps = Annotated[
    int | None,
    typer.Option(
        "--steps",
        min=1,
        help=(
            "Steps of the job to recommend k for (default: 2^n - 1 for Hanoi; the dataset size; a sequence "
            "spec's reference path length)."
        ),
    ),
]
Out = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write the calibration file (JSON) here.", dir_okay=False)
]


Prompts = Annotated[
    list[str],
    typer.Option(
        "--prompt",
        help=(
            "A prompt file (YAML: system/user templates) instead of the task's own; repeat it (2-8) to compare "
            "prompts on the same steps ('default' names the task's own prompt)."
        ),
    ),
]
Target = Annotated[
    float | None, typer.Option("--target", "-t", help="Target P(all steps right) for the recommended k.")
]
TABLE: dict[str, tuple[object, object]] = {
    "samples": (Samples, None),
    "temperature": (Temperature, None),
    "seed": (Seed, 0),
    "pairs": (Pairs, False),
    "target": (Target, None),
    "steps": (Steps, None),
    "out": (Out, None),
    "prompts": (Prompts, []),
}
SHARED = (
    "model",
    *TABLE,
    "concurrency",
    "max_output_tokens",
    "api_base",
    "router_config",
    "timeout",
    "price_in",
    "price_out",
    "prompt_cache",
    "json_out",
    "events",
    "events_text",
    *options.METRICS_OPTIONS,
)


@app.command("hanoi")
@options.shared(*SHARED, table=TABLE)
def calibrate_hanoi(
    ctx: typer.Context,
    disks: Annotated[
        int, typer.Option("--disks", "-n", help="Number of disks (1-25); steps are drawn from its 2^n - 1.")
    ] = 10,
    **opts: OptionValue,
) -> None:
    """Sample random steps of the optimal Hanoi solution once each and measure p and the valid rate."""
    _calibrate(ctx, "hanoi", {"disks": disks}, opts, probe="step")


@app.command("task")
@options.shared(*SHARED, table=TABLE)
def calibrate_task(
    ctx: typer.Context,
    task: Annotated[
        Path,
        typer.Argument(
            help="A YAML task spec: a question spec (give --dataset) or a sequence spec "
            "(with a reference solver; see examples/sequential/).",
            dir_okay=False,
        ),
    ],
    dataset: Annotated[
        Path | None, typer.Option("--dataset", "-d", help=DATASET_HELP + " Question specs only.", dir_okay=False)
    ] = None,
    inputs: options.Inputs = [],  # noqa: B006 - typer reads the default, never mutated
    trust_spec_code: options.TrustSpecCode = False,
    **opts: OptionValue,
) -> None:
    """Measure p and the valid rate of a task spec: a question spec over a labelled dataset, or a
    sequence spec on random steps of its reference solver's path (no dataset needed)."""
    given = dict(
        dataset=dataset, inputs=options.parse_inputs(inputs) if inputs else None, trust_spec_code=trust_spec_code
    )
    _calibrate(ctx, task, given, opts, probe="step" if dataset is None else "item")


def _calibrate(
    ctx: typer.Context, task: str | Path, given: dict[str, OptionValue], opts: dict[str, OptionValue], *, probe: str
) -> None:
    """Calibrate (a progress bar on a terminal), print the report; exit 1 when voting cannot work."""
    json_out = opts.pop("json_out")
    events = {"events": opts.pop("events"), "events_text": opts.pop("events_text"), "json_out": json_out}
    served = {name: opts.pop(name) for name in options.METRICS_OPTIONS}
    with options.event_log(events) as log, options.metrics_endpoint(served) as metrics:
        _measure(ctx, task, given, opts, probe=probe, json_out=json_out, log=log, metrics=metrics)


def _measure(
    ctx: typer.Context,
    task: str | Path,
    given: dict[str, OptionValue],
    opts: dict[str, OptionValue],
    *,
    probe: str,
    json_out: bool,
    log: EventLog | None,
    metrics: MetricsEndpoint | None = None,
) -> None:
    prompts = [str(p) for p in opts.pop("prompts") or []]
    if len(prompts) > 1:
        _compare(ctx, task, given, opts, prompts, json_out=json_out, log=log, metrics=metrics)
        return
    if prompts and prompts[0] != DEFAULT:
        given["prompt"] = prompts[0]
    given |= opts
    to_stdout = log is not None and log.to_stdout  # --events -: stdout holds the events, people read stderr
    console = err_console() if to_stdout else out_console()
    settings = load_settings(config_path(ctx))
    listeners = options.listeners(log, metrics.listener if metrics is not None else None)
    live = console.file.isatty() if to_stdout else is_terminal()

    async def go() -> CalibrationResult:
        if json_out or not live:
            return await acalibrate(task, settings=settings, listeners=listeners, **given)
        with CalibrationBar(console) as bar:
            return await acalibrate(task, settings=settings, on_progress=bar, listeners=listeners, **given)

    result = asyncio.run(go())
    for line in result.warnings:
        warn_line(line)
    if json_out:
        print_json(options.with_metrics(result.model_dump(mode="json"), metrics))
    else:
        render(result, console, title=result.source, probe_name=probe)
    if result.cannot_converge is not None:
        raise CannotConverge(result.cannot_converge)


def _compare(
    ctx: typer.Context,
    task: str | Path,
    given: dict[str, OptionValue],
    opts: dict[str, OptionValue],
    prompts: list[str],
    *,
    json_out: bool,
    log: EventLog | None,
    metrics: MetricsEndpoint | None = None,
) -> None:
    """Calibrate with each prompt on the same steps; print the side-by-side table (or --json)."""
    if opts.pop("out", None) is not None:
        raise UsageError(
            "--out writes one prompt's calibration: compare first, then calibrate with the chosen --prompt"
        )
    if opts.pop("pairs", False):
        raise UsageError("--pairs measures one prompt: compare first, then calibrate the chosen --prompt with --pairs")
    to_stdout = log is not None and log.to_stdout
    console = err_console() if to_stdout else out_console()
    settings = load_settings(config_path(ctx))
    options_ = {**given, **opts, "listeners": options.listeners(log, metrics.listener if metrics is not None else None)}
    live = console.file.isatty() if to_stdout else is_terminal()

    async def go() -> PromptComparison:
        if json_out or not live:
            return await acompare_prompts(task, prompts, settings=settings, **options_)
        with CalibrationBar(console) as bar:
            return await acompare_prompts(
                task, prompts, settings=settings, on_progress=lambda _n, p: bar(p), **options_
            )

    report = asyncio.run(go())
    for line in report.warnings:
        warn_line(line)
    if json_out:
        print_json(options.with_metrics(report.model_dump(mode="json"), metrics))
    else:
        render_comparison(report, console, title=report.results[0].source)
    if report.recommended is None:
        raise CannotConverge(report.why)
