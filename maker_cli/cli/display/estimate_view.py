"""The human view of an estimate: the main table, the m comparison, budget and sweep, then notes."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from maker_cli.cli.display.formats import big as _big
from maker_cli.cli.display.formats import counted, usd
from maker_cli.cli.display.formats import duration as _duration
from maker_cli.cli.display.formats import integer as _int
from maker_cli.cli.display.formats import number as _num
from maker_cli.cli.display.formats import price as _price
from maker_cli.cli.display.formats import probability as _prob
from maker_cli.core.estimate_report import EstimateReport
from maker_cli.core.maths import p_text


def render(r: EstimateReport, console: Console) -> None:
    """The human view: a main table, the m comparison, optional budget and sweep, then notes."""
    per = f"{counted(r.agents, 'agent')} of {r.m} steps" if r.m > 1 else counted(r.steps, "step")
    console.print(f"[bold]maker estimate[/]: {per}, target P(every step decided and correct) >= {r.target:g}")
    console.print(
        f"[dim]p = {p_text(r.p)}: probability that one valid (not red-flagged) sample is correct"
        + (f"; a vote over {r.m} steps is right with p^m = {r.p_vote:.4g}" if r.m > 1 else "")
        + ". Worst case: all wrong samples give the same answer.\n"
        "k: vote margin; a step is decided when one answer has k more votes than any other.[/]"
    )

    t = Table(show_header=True, header_style="bold", pad_edge=False, box=None, expand=False)
    t.add_column("quantity", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("note", overflow="fold")
    k_note = (
        f"k_min for the target (Eq. 14{', with p^m' if r.m > 1 else ''})"
        if r.k == r.k_min
        else f"given; k_min = {r.k_min:,}"
    )
    t.add_row("k (vote margin)", str(r.k), k_note)
    t.add_row("P(step correct)", _prob(r.p_step), "1 / (1 + ((1-p)/p)^k), exact")
    mark = "[green]meets[/]" if r.meets_target else "[red]misses[/]"
    stops = r.max_samples is not None or r.valid_rate < 1.0  # else no step can end undecided
    approximate = set(r.approximations)
    exact = "exact" if "p_success" not in approximate else "a lower bound"
    if stops:
        t.add_row("P(all steps correct)", _prob(r.p_full), "if every step is decided, exact")
    else:
        t.add_row("P(all steps correct)", _prob(r.p_full), f"{mark} the target {r.target:g}, exact")
    t.add_row(
        "valid votes / step",
        _num(r.expected_votes_per_step),
        f"exact; paper's k/(2p-1) = {_num(r.expected_votes_per_step_approx)} (approx.); sd {_num(r.votes_per_step_sd)}",
    )
    t.add_row(
        "samples / step",
        _num(r.expected_samples_per_step),
        f"votes / valid rate {r.valid_rate:g} (red flags re-drawn)" + ("; stops included" if stops else ""),
    )
    approx = " (normal approx.)" if r.percentile_method == "normal" else " (exact)"
    t.add_row(
        "calls (whole job)",
        _int(r.expected_calls),
        f"expected; p50 {_int(r.calls_p50)}, p95 {_int(r.calls_p95)}, p99 {_int(r.calls_p99)}{approx}",
    )
    if r.expected_input_tokens is not None:
        cached = (
            f"; {r.cached_share:.1%} from the prompt cache ({_big(r.expected_cached_tokens)})"
            if r.cached_share and r.expected_cached_tokens is not None
            else ""
        )
        t.add_row("input tokens", _big(r.expected_input_tokens), f"{_num(r.input_tokens_per_call)} per call{cached}")
    if r.expected_output_tokens is not None:
        t.add_row("output tokens", _big(r.expected_output_tokens), f"{_num(r.output_tokens_per_call)} per call")
    if r.expected_cost_usd is not None:
        t.add_row("cost (expected)", usd(r.expected_cost_usd, unknown="-"), _price_note(r))
        t.add_row(
            "cost p95",
            usd(r.cost_p95_usd, unknown="-"),
            f"p50 {usd(r.cost_p50_usd, unknown='-')}, p99 {usd(r.cost_p99_usd, unknown='-')} (approx.: tokens at their mean)",
        )
        if r.cached_share and r.expected_cost_uncached_usd is not None:
            rate = f"{_price(r.price_cached)}/M" if r.price_cached is not None else "the input price (no cache rate)"
            t.add_row(
                "cost without caching",
                usd(r.expected_cost_uncached_usd, unknown="-"),
                f"expected; with {r.cached_share:.1%} of the input cached at {rate}: {usd(r.expected_cost_usd, unknown='-')}",
            )
    else:
        t.add_row("cost", "-", _price_note(r))
    if r.expected_rounds_per_step is not None:
        conc = f"{r.concurrency}" if r.concurrency else "unlimited"
        t.add_row(
            "rounds / step",
            _num(r.expected_rounds_per_step),
            f"exact; zero-waste parallel rounds (k - lead samples at once); "
            f"{_num(r.expected_waves_per_step)} waves at concurrency {conc}",
        )
    if r.expected_wall_s is not None:
        per_call = (
            f"{r.latency_s:g} s median, p95 {r.latency_p95_s:.3g} s per call"
            if r.latency_sigma
            else f"{r.latency_s:g} s per call"
        )
        t.add_row("wall time", _duration(r.expected_wall_s), f"approx.: {per_call}, steps one after another")
        if r.expected_wall_speculative_s is not None:
            t.add_row(
                f"with --speculate {r.speculate}",
                _duration(r.expected_wall_speculative_s),
                f"approx.: {r.expected_wall_s / r.expected_wall_speculative_s:.2f}x faster, "
                f"{(r.expected_waste_share or 0) * 100:.2f}% extra samples on discarded branches",
            )
    if stops and r.p_undecided_per_step is not None:
        cap = f"{counted(r.max_samples, 'sample')} or " if r.max_samples is not None else ""
        t.add_row(
            "P(step undecided)",
            _prob(r.p_undecided_per_step, small=True),
            f"stops at {cap}{counted(r.max_red_flags, 'red flag')}; P(any step undecided) {_prob(r.p_undecided_job, small=True)}"
            + ("" if "p_undecided_per_step" not in approximate else " (upper bounds)"),
        )
        t.add_row(
            "P(job succeeds)",
            _prob(r.p_success),
            f"{mark} the target {r.target:g}; every step decided and correct, {exact}",
        )
    b = r.budget
    if b is not None:
        t.add_row("budget", usd(b.budget_usd, unknown="-"), "")
        fits = "[green]affordable[/]" if b.affordable else "[red]not affordable[/]"
        t.add_row("target at k_min", usd(b.cost_at_k_min, unknown="-"), f"{fits} (k = {r.k_min})")
        if b.max_k_within_budget is not None:
            t.add_row(
                "best within budget",
                f"k = {b.max_k_within_budget}",
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
    t = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("m", "p^m", "agents", "k_min", "calls", "cost" if r.cost_per_call_usd is not None else "cost vs m=1"):
        t.add_column(name, justify="right", no_wrap=True)
    for row in r.m_comparison:
        if not row.converges or row.k_min is None:
            t.add_row(str(row.m), f"{row.p_vote:.4g}", _int(row.agents), "[red]cannot converge[/]", "-", "-")
            continue
        cost = (
            usd(row.expected_cost_usd, unknown="-")
            if row.expected_cost_usd is not None
            else (f"x{row.relative_cost:,.3g}" if row.relative_cost is not None else "-")
        )
        t.add_row(str(row.m), f"{row.p_vote:.4g}", _int(row.agents), str(row.k_min), _int(row.expected_calls), cost)
    console.print()
    console.print(
        "[bold]steps per agent m[/] (a vote is right with p^m; tokens per call x m): why maximal decomposition wins"
    )
    console.print(t)


def _render_sweep(r: EstimateReport, console: Console) -> None:
    t = Table(box=None, pad_edge=False, header_style="bold")
    stops = r.max_samples is not None or r.valid_rate < 1.0
    names = ("k", "P(step)", "P(all)", *(("P(success)",) if stops else ()), "target", "votes/step", "calls", "cost")
    for name in names:
        t.add_column(name, justify="right", no_wrap=True)
    for row in r.sweep or []:
        success = (_prob(row.p_success),) if stops else ()
        t.add_row(
            f"[bold]{row.k}[/]" if row.k == r.k else str(row.k),
            _prob(row.p_step),
            _prob(row.p_full),
            *success,
            "[green]yes[/]" if row.meets_target else "no",
            _num(row.expected_votes_per_step),
            _int(row.expected_calls),
            usd(row.expected_cost_usd, unknown="-") if row.expected_cost_usd is not None else "-",
        )
    console.print()
    console.print(
        "[bold]sweep over k[/] (expected figures; P(all) = P(all steps correct)"
        + ("; P(success) = every step decided and correct, the target's test)" if stops else ")")
    )
    console.print(t)


def _price_note(r: EstimateReport) -> str:
    if r.expected_cost_usd is None:
        if r.price_in is None and r.price_out is None:
            return "give --output-tokens and --model or --price-in/--price-out"
        return "give --input-tokens/--output-tokens per call"
    who = f"{r.model}: " if r.model else ""
    src = f" ({r.price_source})" if r.price_source else ""
    prices = [f"{_price(x)}/M {kind}" for x, kind in ((r.price_in, "in"), (r.price_out, "out")) if x is not None]
    if r.cached_share and r.price_cached is not None:
        prices.insert(1, f"{_price(r.price_cached)}/M cached")
    return f"{who}{', '.join(prices)}{src}; ${r.cost_per_call_usd:.4g} per call"


# --------------------------------------------------------------------------- number formats
