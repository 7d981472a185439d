"""`maker vote`: one reliable answer by first-to-ahead-by-k voting, with a live tally."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from maker_cli.cli.app import config_path
from maker_cli.cli.common import build_provider, parse_inputs
from maker_cli.cli.output import is_terminal, out_console, print_json
from maker_cli.errors import UsageError

EXIT_UNDECIDED = 3


def vote(
    ctx: typer.Context,
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="The question to answer (free prompt)."),
    system: Optional[str] = typer.Option(None, "--system", help="System message for --prompt."),
    task: Optional[Path] = typer.Option(None, "--task", help="A YAML task spec (see examples/).", dir_okay=False),
    inputs: List[str] = typer.Option([], "--input", "-i", help="Task input as key=value (repeatable)."),
    answer_regex: Optional[str] = typer.Option(
        None, "--answer-regex", help="With --prompt: vote on this regex's 'answer' group (last match)."
    ),
    k: Optional[int] = typer.Option(None, "--k", "-k", min=1, help="Vote margin: first answer ahead by k wins."),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", min=1, help="Sample cap; reaching it = undecided."),
    eager: Optional[int] = typer.Option(None, "--eager", min=0, help="Extra samples per round (cost for latency)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="litellm model string, or sim:... (simulated)."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server."),
    router_config: Optional[Path] = typer.Option(None, "--router-config", help="litellm Router config (YAML)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", min=1, help="Calls in flight at once."),
    max_output_tokens: Optional[int] = typer.Option(
        None, "--max-output-tokens", min=1, help="Red-flag responses longer than this many tokens."
    ),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0, help="Temperature after the first sample."),
    first_temperature: Optional[float] = typer.Option(None, "--first-temperature", min=0, help="First sample's temperature."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per call."),
    price_in: Optional[float] = typer.Option(None, "--price-in", min=0, help="USD per million input tokens."),
    price_out: Optional[float] = typer.Option(None, "--price-out", min=0, help="USD per million output tokens."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Get one answer by voting: sample until one answer leads every other by k.

    Exit codes: 0 decided, 3 undecided (sample cap reached), 1 error, 2 usage.
    """
    if (prompt is None) == (task is None):
        raise UsageError("give exactly one of --prompt TEXT or --task FILE")
    if prompt is not None and inputs:
        raise UsageError("--input goes with --task, not with --prompt")
    from maker_cli.config.settings import load_settings

    settings = load_settings(
        config_path(ctx), model=model, api_base=api_base, router_config=router_config, concurrency=concurrency,
        max_output_tokens=max_output_tokens, timeout=timeout, price_in=price_in, price_out=price_out,
    )
    flags = dict(k=k, max_samples=max_samples, eager=eager, temperature=temperature, first_temperature=first_temperature)
    if task is not None:
        from maker_cli.specs.sequence import is_sequential_file
        from maker_cli.specs.question import load_spec
        from maker_cli.jobs.vote import spec_job

        if is_sequential_file(task):
            raise UsageError(f"{task} is a sequential spec (it has initial_state): run it with `maker run task {task}`")
        spec = load_spec(task)
        job = spec_job(spec, parse_inputs(inputs), settings, flags)
        model_name = model or spec.model or settings.model
    else:
        from maker_cli.jobs.vote import VoteJob, free_text_judge, vote_config

        cfg = vote_config(settings, **flags)
        job = VoteJob(system or "", prompt or "", free_text_judge(answer_regex), cfg)
        model_name = settings.model
    provider = build_provider(settings, model_name)
    result, report = _run(job, provider, settings.concurrency, model_name, json_out)
    if json_out:
        print_json(report)
    else:
        _print_result(report)
    if not result.decided:
        raise typer.Exit(EXIT_UNDECIDED)


def _run(job, provider, concurrency: int, model_name: str, json_out: bool):  # noqa: ANN001
    from maker_cli.cli.display.vote_view import LiveVoteView
    from maker_cli.jobs.vote import run_vote, vote_report

    console = out_console()
    listeners = []
    view = None
    if not json_out:
        view = LiveVoteView(console, job.cfg.k, model=model_name, live=is_terminal())
        listeners.append(view)
        if provider.info.simulated:
            console.print("[dim]simulated model: no API calls, no cost[/]")

    async def go():
        if view is None:
            return await run_vote(job, provider, concurrency=concurrency, listeners=listeners)
        with view:
            return await run_vote(job, provider, concurrency=concurrency, listeners=listeners)

    import asyncio

    result = asyncio.run(go())
    return result, vote_report(result, model=model_name, simulated=provider.info.simulated, k=job.cfg.k)


def _print_result(report: dict) -> None:
    console = out_console()
    cost = "unknown (no price for this model; pass --price-in/--price-out)" if report["cost_usd"] is None else (
        f"${report['cost_usd']:.6f}"
    )
    if report["decided"]:
        console.print(f"[bold green]decided[/] (k={report['k']}): {report['winner']}", highlight=False)
    else:
        console.print(
            f"[bold yellow]undecided[/]: no answer reached a lead of {report['k']} within "
            f"{report['samples']} samples (the cap); tallies above", highlight=False,
        )
    flags = ", ".join(f"{r} {n}" for r, n in report["red_flag_reasons"].items()) or "none"
    console.print(
        f"samples {report['samples']} ({report['red_flagged']} red-flagged: {flags}), rounds {report['rounds']}, "
        f"errors {report['errors']}, retries {report['retries']}, tokens {report['input_tokens']:,} in / "
        f"{report['output_tokens']:,} out, cost {cost}" + (" \\[simulated]" if report["simulated"] else ""),
        highlight=False, soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("vote")(vote)
