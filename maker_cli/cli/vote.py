"""`maker vote`: one reliable answer by first-to-ahead-by-k voting, with a live tally.

Exit codes: 0 decided, 3 undecided (a cap reached), 1 error, 2 usage.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from maker_cli._types import OptionValue
from maker_cli.cli import options
from maker_cli.cli.app import config_path
from maker_cli.cli.display.vote_view import LiveVoteView, print_vote
from maker_cli.cli.output import EXIT_UNDECIDED, err_console, is_terminal, out_console, print_json
from maker_cli.config.settings import load_settings
from maker_cli.jobs.event_log import EventLog
from maker_cli.jobs.vote import VotePlan, VoteResult, plan_vote, run_vote
from maker_cli.providers.factory import provider_for

if TYPE_CHECKING:
    from maker_cli.jobs.metrics import MetricsEndpoint

app = typer.Typer(add_completion=False)

VoteP = Annotated[
    float | None,
    typer.Option(
        "--p",
        help="P(one valid sample is correct), for the decision's confidence (default: a simulated model's own p).",
    ),
]


@app.command("vote")
@options.shared(
    "k",
    "max_samples",
    "max_red_flags",
    "eager",
    "method",
    "early_stop_votes",
    "early_stop_confidence",
    "model",
    "api_base",
    "router_config",
    "concurrency",
    "max_output_tokens",
    "red_flags",
    "temperature",
    "first_temperature",
    "timeout",
    "price_in",
    "price_out",
    "max_cost",
    "prompt_cache",
    "json_out",
    "events",
    "events_text",
    *options.METRICS_OPTIONS,
    "p",
    table={"p": (VoteP, None)},
)
def vote(
    ctx: typer.Context,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="The question to answer (free prompt).")] = None,
    system: Annotated[str | None, typer.Option("--system", help="System message for --prompt.")] = None,
    task: Annotated[
        Path | None, typer.Option("--task", help="A YAML question spec (see examples/).", dir_okay=False)
    ] = None,
    inputs: options.Inputs = [],  # noqa: B006 - typer reads the default, never mutated
    answer_regex: Annotated[
        str | None,
        typer.Option(
            "--answer-regex",
            help="With --prompt: vote on this regex's named group (?P<answer>...) (last match).",
        ),
    ] = None,
    **opts: OptionValue,
) -> None:
    """Get one answer by voting: sample until one answer leads every other by k.

    Exit codes: 0 decided, 3 undecided (a cap reached), 1 error, 2 usage.
    """
    with options.event_log(opts) as log:
        _vote(ctx, prompt, system, task, inputs, answer_regex, opts, log)


def _vote(
    ctx: typer.Context,
    prompt: str | None,
    system: str | None,
    task: Path | None,
    inputs: list[str],
    answer_regex: str | None,
    opts: dict[str, OptionValue],
    log: EventLog | None,
) -> None:
    plan = plan_vote(
        prompt,
        task=task,
        inputs=options.parse_inputs(inputs) if inputs else None,
        system=system,
        answer_regex=answer_regex,
        flags=options.job_flags(opts),
        settings=load_settings(config_path(ctx)),
        p=opts["p"],
    )
    with options.metrics_endpoint(opts) as metrics:
        _decide(plan, opts, log, metrics)


def _decide(
    plan: VotePlan, opts: dict[str, OptionValue], log: EventLog | None, metrics: MetricsEndpoint | None
) -> None:
    """Vote with a live tally (or quietly with --json) and print the result; exit 3 when undecided."""
    provider = provider_for(plan.job)
    to_stdout = log is not None and log.to_stdout  # --events -: stdout holds the events, people read stderr
    console = err_console() if to_stdout else out_console()
    json_out = opts["json_out"]
    live = console.file.isatty() if to_stdout else is_terminal()
    view = (
        None if json_out else LiveVoteView(console, plan.job.k, model=plan.job.model, live=live, method=plan.job.method)
    )
    if view is not None and provider.info.simulated:
        console.print("[dim]simulated model: no API calls, no cost[/]")
    listeners = options.listeners(view, log, metrics.listener if metrics is not None else None)

    async def go() -> VoteResult:
        if view is None:
            return await run_vote(plan, provider, listeners=listeners)
        with view:
            return await run_vote(plan, provider, listeners=listeners)

    result = asyncio.run(go())
    if json_out:
        print_json(options.with_metrics(result.model_dump(mode="json"), metrics))
    else:
        print_vote(result, console)
    if not result.decided:
        raise typer.Exit(EXIT_UNDECIDED)
