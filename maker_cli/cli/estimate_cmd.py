"""`maker estimate`: what a MAKER job will need before it runs (k, reliability, calls, cost, time).

Imports stay light at module level (typer only): `maker --help` loads this file. The maths, the
settings and rich load when the command runs; litellm never (prices come from its bundled map).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from maker_cli.core.estimate import EstimateReport

HELP = """Estimate a MAKER job before spending anything: k, P(all steps correct), calls, cost, time.

From p = the probability that one valid sample is correct, the vote margin k, votes, calls, tokens,
cost percentiles, parallel rounds and wall time. Worst case throughout: all wrong samples agree.

Example: maker estimate --steps 1048575 --p 0.9978 --output-tokens 538 --model gpt-4.1-mini
"""


def estimate(
    ctx: typer.Context,
    steps: Optional[int] = typer.Option(None, "--steps", "-s", help="Dependent steps in the job (s)."),
    p: Optional[float] = typer.Option(
        None, "--p", "-p", help="P(one valid sample is correct), per step; must be > 0.5."
    ),
    target: Optional[float] = typer.Option(
        None, "--target", "-t", help="Target P(all steps correct) (default 0.95, or the settings)."
    ),
    m: int = typer.Option(1, "--m", help="Steps per agent (1 = maximal decomposition)."),
    k: Optional[int] = typer.Option(None, "--k", help="Evaluate this vote margin instead of k_min."),
    valid_rate: Optional[float] = typer.Option(
        None, "--valid-rate", "-v", help="Share of samples not red-flagged (default 1)."
    ),
    input_tokens: Optional[float] = typer.Option(None, "--input-tokens", help="Input tokens per one-step call."),
    output_tokens: Optional[float] = typer.Option(None, "--output-tokens", help="Output tokens per one-step call."),
    model: Optional[str] = typer.Option(None, "--model", help="Model whose prices to use (litellm's price map, offline)."),
    price_in: Optional[float] = typer.Option(None, "--price-in", help="USD per million input tokens."),
    price_out: Optional[float] = typer.Option(None, "--price-out", help="USD per million output tokens."),
    latency: Optional[float] = typer.Option(None, "--latency", help="Seconds per call, for the wall time."),
    concurrency: Optional[int] = typer.Option(
        None, "--concurrency", help="Calls in flight at once (default: the settings, 16)."
    ),
    budget: Optional[float] = typer.Option(None, "--budget", help="USD available: what target it reaches."),
    max_samples: Optional[int] = typer.Option(
        None, "--max-samples", help="Per-step sample cap: P(a step ends undecided)."
    ),
    calibration: Optional[Path] = typer.Option(
        None, "--calibration", help="Calibration file (p, valid rate, tokens, model, prices); flags override it.",
        dir_okay=False,
    ),
    sweep: bool = typer.Option(False, "--sweep", help="Add a table over k around k_min."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    from maker_cli.cli.app import config_path
    from maker_cli.cli.output import print_json, warn_line
    from maker_cli.core.estimate import estimate as run_estimate
    from maker_cli.core.estimate import resolve_inputs
    from maker_cli.config.settings import load_settings

    settings = load_settings(config_path(ctx))
    inputs = resolve_inputs(
        steps=steps, p=p, target=target, m=m, k=k, valid_rate=valid_rate,
        input_tokens=input_tokens, output_tokens=output_tokens, model=model,
        price_in=price_in, price_out=price_out, latency=latency, concurrency=concurrency,
        budget=budget, max_samples=max_samples, sweep=sweep, calibration=calibration, defaults=settings,
    )
    report = run_estimate(inputs)
    for line in report.warnings:
        warn_line(line)
    if as_json:
        print_json(report.to_dict())
        return
    from maker_cli.cli.output import out_console

    render(report, out_console())


# --------------------------------------------------------------------------- rendering


def render(r: EstimateReport, console: Console) -> None:
    """The human view: a main table, the m comparison, optional budget and sweep, then notes."""
    from rich.table import Table

    per = f"{r.agents:,} agents of {r.m} steps" if r.m > 1 else f"{r.steps:,} steps"
    console.print(f"[bold]maker estimate[/]: {per}, target P(all steps correct) >= {r.target:g}")
    console.print(
        f"[dim]p = {r.p:g}: probability that one valid (not red-flagged) sample is correct"
        + (f"; a vote over {r.m} steps is right with p^m = {r.p_vote:.4g}" if r.m > 1 else "")
        + ". Worst case: all wrong samples give the same answer.\n"
        "k: vote margin; a step is decided when one answer has k more votes than any other.[/]"
    )

    t = Table(show_header=True, header_style="bold", pad_edge=False, box=None, expand=False)
    t.add_column("quantity", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("note", overflow="fold")
    k_note = f"k_min for the target (Eq. 14{', with p^m' if r.m > 1 else ''})" if r.k == r.k_min else f"given; k_min = {r.k_min}"
    t.add_row("k (vote margin)", str(r.k), k_note)
    t.add_row("P(step correct)", _prob(r.p_step), "1 / (1 + ((1-p)/p)^k), exact")
    mark = "[green]meets[/]" if r.meets_target else "[red]misses[/]"
    t.add_row("P(all steps correct)", _prob(r.p_full), f"{mark} the target {r.target:g}, exact")
    t.add_row(
        "valid votes / step", _num(r.expected_votes_per_step),
        f"exact; paper's k/(2p-1) = {_num(r.expected_votes_per_step_approx)} (approx.); sd {_num(r.votes_per_step_sd)}",
    )
    t.add_row("samples / step", _num(r.expected_samples_per_step), f"votes / valid rate {r.valid_rate:g} (red flags re-drawn)")
    approx = " (normal approx.)" if r.percentile_method == "normal" else " (exact)"
    t.add_row(
        "calls (whole job)", _int(r.expected_calls),
        f"expected; p50 {_int(r.calls_p50)}, p95 {_int(r.calls_p95)}, p99 {_int(r.calls_p99)}{approx}",
    )
    if r.expected_input_tokens is not None:
        t.add_row("input tokens", _big(r.expected_input_tokens), f"{_num(r.input_tokens_per_call)} per call")
    if r.expected_output_tokens is not None:
        t.add_row("output tokens", _big(r.expected_output_tokens), f"{_num(r.output_tokens_per_call)} per call")
    if r.expected_cost_usd is not None:
        t.add_row("cost (expected)", _usd(r.expected_cost_usd), _price_note(r))
        t.add_row(
            "cost p95", _usd(r.cost_p95_usd),
            f"p50 {_usd(r.cost_p50_usd)}, p99 {_usd(r.cost_p99_usd)} (approx.: tokens at their mean)",
        )
    else:
        t.add_row("cost", "-", _price_note(r))
    if r.expected_rounds_per_step is not None:
        conc = f"{r.concurrency}" if r.concurrency else "unlimited"
        t.add_row(
            "rounds / step", _num(r.expected_rounds_per_step),
            f"exact; zero-waste parallel rounds (k - lead samples at once); "
            f"{_num(r.expected_waves_per_step)} waves at concurrency {conc}",
        )
    if r.expected_wall_s is not None:
        t.add_row("wall time", _duration(r.expected_wall_s), f"approx.: {r.latency_s:g} s per call, steps one after another")
    if r.p_undecided_per_step is not None:
        t.add_row(
            "P(step undecided)", _prob(r.p_undecided_per_step, small=True),
            f"cap {r.max_samples} samples/step; P(any step undecided) {_prob(r.p_undecided_job, small=True)}",
        )
    if r.budget is not None:
        b = r.budget
        t.add_row("budget", _usd(b.budget_usd), "")
        fits = "[green]affordable[/]" if b.affordable else "[red]not affordable[/]"
        t.add_row("target at k_min", _usd(b.cost_at_k_min), f"{fits} (k = {r.k_min})")
        if b.max_k_within_budget is not None:
            t.add_row(
                "best within budget", f"k = {b.max_k_within_budget}",
                f"P(all steps correct) = {_prob(b.max_target_within_budget)}",
            )
        elif b.max_target_within_budget is None:
            t.add_row("best within budget", "-", "[red]the budget does not pay for k = 1[/]")
    console.print(t)
    _render_m(r, console)
    if r.sweep:
        _render_sweep(r, console)
    console.print(f"[dim]approximations: {', '.join(r.approximations)}; every other figure is exact.[/]")
    for note in r.notes:
        console.print(f"[dim]- {note}[/]")


def _render_m(r: EstimateReport, console: Console) -> None:
    from rich.table import Table

    t = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("m", "p^m", "agents", "k_min", "calls", "cost" if r.cost_per_call_usd is not None else "cost vs m=1"):
        t.add_column(name, justify="right", no_wrap=True)
    for row in r.m_comparison:
        if not row.converges or row.k_min is None:
            t.add_row(str(row.m), f"{row.p_vote:.4g}", _int(row.agents), "[red]cannot converge[/]", "-", "-")
            continue
        cost = _usd(row.expected_cost_usd) if row.expected_cost_usd is not None else (
            f"x{row.relative_cost:,.3g}" if row.relative_cost is not None else "-"
        )
        t.add_row(str(row.m), f"{row.p_vote:.4g}", _int(row.agents), str(row.k_min), _int(row.expected_calls), cost)
    console.print()
    console.print("[bold]steps per agent m[/] (a vote is right with p^m; tokens per call x m): why maximal decomposition wins")
    console.print(t)


def _render_sweep(r: EstimateReport, console: Console) -> None:
    from rich.table import Table

    t = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("k", "P(step)", "P(all)", "target", "votes/step", "calls", "cost"):
        t.add_column(name, justify="right", no_wrap=True)
    for row in r.sweep or []:
        t.add_row(
            f"[bold]{row.k}[/]" if row.k == r.k else str(row.k), _prob(row.p_step), _prob(row.p_full),
            "[green]yes[/]" if row.meets_target else "no", _num(row.expected_votes_per_step),
            _int(row.expected_calls), _usd(row.expected_cost_usd) if row.expected_cost_usd is not None else "-",
        )
    console.print()
    console.print("[bold]sweep over k[/] (expected figures; P(all) = P(all steps correct))")
    console.print(t)


def _price_note(r: EstimateReport) -> str:
    if r.expected_cost_usd is None:
        if r.price_in is None and r.price_out is None:
            return "give --output-tokens and --model or --price-in/--price-out"
        return "give --input-tokens/--output-tokens per call"
    who = f"{r.model}: " if r.model else ""
    src = f" ({r.price_source})" if r.price_source else ""
    prices = [f"{_price(x)}/M {kind}" for x, kind in ((r.price_in, "in"), (r.price_out, "out")) if x is not None]
    return f"{who}{', '.join(prices)}{src}; ${r.cost_per_call_usd:.4g} per call"


# --------------------------------------------------------------------------- number formats


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1e4 or (float(x).is_integer() and abs(x) < 1e15):
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _price(x: float) -> str:
    return f"${x:.2f}" if x >= 0.01 and round(x, 2) == x else f"${x:.3g}"


def _int(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _big(x: float) -> str:
    for size, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.3g}"


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"${x:,.0f}"
    if x >= 0.01:
        return f"${x:,.2f}"
    return f"${x:.2g}"


def _prob(x: float | None, small: bool = False) -> str:
    if x is None:
        return "-"
    if x == 1.0:
        return "1"
    if x == 0.0:
        return "~0"
    if small or x < 1e-3:
        return f"{x:.3g}"
    if x > 0.9999:
        return f"1 - {1 - x:.2g}"
    return f"{x:.4f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def register(app: typer.Typer) -> None:
    app.command("estimate", help=HELP)(estimate)
