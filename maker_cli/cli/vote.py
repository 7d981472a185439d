"""`maker vote`: one reliable answer by first-to-ahead-by-k voting, with a live tally.

Exit codes: 0 decided, 3 undecided (a cap reached), 1 error, 2 usage.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from maker_cli._types import OptionValue
from maker_cli.cli import options
from maker_cli.cli.app import config_path
from maker_cli.cli.display.vote_view import LiveVoteView, print_vote
from maker_cli.cli.output import EXIT_UNDECIDED, is_terminal, out_console, print_json
from maker_cli.config.settings import load_settings
from maker_cli.jobs.vote import VoteResult, plan_vote, run_vote
from maker_cli.providers.factory import provider_for

app = typer.Typer(add_completion=False)


@app.command("vote")
@options.shared(
    "k",
    "max_samples",
    "max_red_flags",
    "eager",
    "model",
    "api_base",
    "router_config",
    "concurrency",
    "max_output_tokens",
    "temperature",
    "first_temperature",
    "timeout",
    "price_in",
    "price_out",
    "max_cost",
    "prompt_cache",
    "json_out",
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
    plan = plan_vote(
        prompt,
        task=task,
        inputs=options.parse_inputs(inputs) if inputs else None,
        system=system,
        answer_regex=answer_regex,
        flags=options.job_flags(opts),
        settings=load_settings(config_path(ctx)),
    )
    provider = provider_for(plan.job)
    console = out_console()
    json_out = opts["json_out"]
    view = None if json_out else LiveVoteView(console, plan.job.k, model=plan.job.model, live=is_terminal())
    if view is not None and provider.info.simulated:
        console.print("[dim]simulated model: no API calls, no cost[/]")

    async def go() -> VoteResult:
        if view is None:
            return await run_vote(plan, provider)
        with view:
            return await run_vote(plan, provider, listeners=[view])

    result = asyncio.run(go())
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        print_vote(result, console)
    if not result.decided:
        raise typer.Exit(EXIT_UNDECIDED)
