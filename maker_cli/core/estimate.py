"""Estimate a MAKER job before running it: k, reliability, votes, calls, tokens, cost, wall time.

`estimate` turns resolved `EstimateInputs` (prices included: `maker_cli.jobs.estimate` resolves
them) into an `EstimateReport` using `maker_cli.core.maths` (exact race maths). No display code
here: the CLI and the MCP server render the report.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from dataclasses import dataclass, field
from typing import Any

from maker_cli.core import maths
from maker_cli.core.estimate_report import BudgetReport, EstimateReport, MRow, SweepRow
from maker_cli.errors import CannotConverge, UsageError

MAX_K = 100_000
"""Beyond this k a job is not practical (p is within a hair of 0.5); we refuse rather than grind."""

M_COMPARISON = (1, 2, 4, 8)


@dataclass(frozen=True, slots=True)
class EstimateInputs:
    """Everything an estimate needs, resolved. Token counts are per one-step call (scaled by m)."""

    steps: int
    p: float
    target: float = 0.95
    m: int = 1
    k: int | None = None
    valid_rate: float = 1.0
    input_tokens: float | None = None
    output_tokens: float | None = None
    model: str | None = None
    price_in: float | None = None
    price_out: float | None = None
    price_source: str | None = None
    latency_s: float | None = None
    concurrency: int | None = None
    budget_usd: float | None = None
    max_samples: int | None = None
    sweep: bool = False
    calibration_file: str | None = None
    notes: tuple[str, ...] = ()


def _check_inputs(x: EstimateInputs) -> None:
    maths.check_steps(x.steps)
    maths.check_target(x.target)
    maths.check_m(x.m)
    if x.k is not None:
        maths.check_k(x.k)
        if x.k > MAX_K:
            raise UsageError(f"k = {x.k} is beyond what can be evaluated (at most {MAX_K})")
    maths.check_valid_rate(x.valid_rate)
    for name, value in (
        ("--input-tokens", x.input_tokens),
        ("--output-tokens", x.output_tokens),
        ("--price-in", x.price_in),
        ("--price-out", x.price_out),
        ("--budget", x.budget_usd),
    ):
        if value is not None and not (value >= 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be a number >= 0, got {value}")
    if x.latency_s is not None and not (x.latency_s > 0 and math.isfinite(x.latency_s)):
        raise UsageError(f"--latency must be seconds > 0, got {x.latency_s}")
    if x.concurrency is not None and x.concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {x.concurrency}")
    if x.max_samples is not None and x.max_samples < 1:
        raise UsageError(f"--max-samples must be >= 1, got {x.max_samples}")


# --------------------------------------------------------------------------- the estimate


def step_call_cost(x: EstimateInputs) -> float | None:
    """USD of one one-step call (m = 1), or None if tokens or their prices are missing."""
    if x.input_tokens is None and x.output_tokens is None:
        return None
    if (x.input_tokens and x.price_in is None) or (x.output_tokens and x.price_out is None):
        return None
    return ((x.input_tokens or 0.0) * (x.price_in or 0.0) + (x.output_tokens or 0.0) * (x.price_out or 0.0)) / 1e6


@dataclass(slots=True)
class _Log:
    """What an estimate says about itself besides the numbers."""

    notes: list[str]
    warnings: list[str] = field(default_factory=list)
    approximations: list[str] = field(default_factory=lambda: ["expected_votes_per_step_approx"])


def estimate(x: EstimateInputs) -> EstimateReport:
    """Compute the full estimate. UsageError / CannotConverge on inputs that cannot be estimated."""
    _check_inputs(x)
    p_vote = maths.check_p(x.p, x.m)
    k_min = maths.k_min(x.p, x.steps, x.target, x.m)
    if k_min > MAX_K:
        raise CannotConverge(
            f"p = {x.p:g} is so close to 0.5 that k_min = {k_min:,}: each step would need about "
            f"{maths.expected_votes(p_vote, k_min):.3g} votes; voting cannot converge in practice"
        )
    k = x.k if x.k is not None else k_min
    n_agents = maths.agents(x.steps, x.m)
    log = _Log(notes=list(x.notes))
    samples, samples_var = maths.samples_moments(p_vote, k, x.valid_rate)
    calls = n_agents * samples
    pf = maths.p_full(x.p, k, x.steps, x.m)
    if k < k_min:
        log.warnings.append(
            f"k = {k} is below k_min = {k_min}: P(all correct) = {pf:.4g} misses the target {x.target:g}"
        )
    step_cost = step_call_cost(x)
    cost_call = None if step_cost is None else x.m * step_cost
    cost_of = _cost_function(x, step_cost)
    return EstimateReport(
        steps=x.steps, m=x.m, agents=n_agents, p=x.p, p_vote=p_vote, target=x.target, valid_rate=x.valid_rate,
        k=k, k_min=k_min, meets_target=pf >= x.target, p_step=maths.p_step(p_vote, k), p_full=pf,
        expected_votes_per_step=maths.expected_votes(p_vote, k),
        expected_votes_per_step_approx=maths.expected_votes_approx(p_vote, k),
        votes_per_step_sd=math.sqrt(maths.votes_variance(p_vote, k)),
        expected_samples_per_step=samples, expected_calls=calls,
        model=x.model, price_in=x.price_in, price_out=x.price_out, price_source=x.price_source,
        **_cost_fields(x, p_vote, k, n_agents, calls, cost_call, log),
        **_time_fields(x, p_vote, k, n_agents, log),
        **_cap_fields(x, p_vote, k, n_agents, samples, samples_var, log),
        **(_budget(x, k, k_min, cost_of, n_agents, cost_call, log.warnings).model_dump()
           if x.budget_usd is not None else {}),
        m_comparison=m_comparison(x, step_cost),
        sweep=_sweep(x, k, k_min, p_vote, n_agents, cost_call) if x.sweep else None,
        approximations=log.approximations, notes=log.notes, warnings=log.warnings,
        calibration_file=x.calibration_file,
    )


def _cost_fields(x, p_vote, k, n_agents, calls, cost_call, log: _Log) -> dict[str, Any]:
    """Calls percentiles, tokens and cost (mean and percentiles)."""
    pct = maths.job_percentiles(p_vote, k, n_agents, x.valid_rate)
    if pct.method == "normal":
        log.approximations += ["calls_p50", "calls_p95", "calls_p99"]
        log.notes.append(
            "call percentiles: normal approximation from the exact per-step mean and variance "
            f"over {n_agents:,} independent steps"
        )
    else:
        log.notes.append("call percentiles: exact (convolution of the exact per-step distribution)")
    if cost_call is not None:
        log.approximations += ["cost_p50_usd", "cost_p95_usd", "cost_p99_usd"]
        log.notes.append("cost percentiles take every call's tokens at their mean")
        if not x.input_tokens and x.output_tokens:
            log.notes.append("no input tokens given: cost counts output tokens only")
    elif x.input_tokens is None and x.output_tokens is None:
        log.notes.append("cost: give --output-tokens/--input-tokens (per call) and a --model or --price-in/--price-out")
    else:
        log.notes.append("cost: prices unknown; give --model or --price-in/--price-out (USD per million tokens)")
    tokens_in = None if x.input_tokens is None else x.m * x.input_tokens
    tokens_out = None if x.output_tokens is None else x.m * x.output_tokens
    usd = (lambda n: None) if cost_call is None else (lambda n: n * cost_call)
    return dict(
        calls_p50=pct.samples[0], calls_p95=pct.samples[1], calls_p99=pct.samples[2],
        percentile_method=pct.method,
        input_tokens_per_call=tokens_in, output_tokens_per_call=tokens_out, cost_per_call_usd=cost_call,
        expected_input_tokens=None if tokens_in is None else calls * tokens_in,
        expected_output_tokens=None if tokens_out is None else calls * tokens_out,
        expected_cost_usd=usd(calls),
        cost_p50_usd=usd(pct.samples[0]), cost_p95_usd=usd(pct.samples[1]), cost_p99_usd=usd(pct.samples[2]),
    )


def _time_fields(x, p_vote, k, n_agents, log: _Log) -> dict[str, Any]:
    """Zero-waste rounds and waves per step, and the wall time with --latency."""
    rounds = maths.round_stats(p_vote, k, concurrency=x.concurrency, valid_rate=x.valid_rate)
    if rounds is None:
        log.notes.append(f"rounds and wall time not computed: k = {k} is too large for the exact DP")
    wall = None
    if x.latency_s is None:
        log.notes.append("wall time: give --latency (seconds per call)")
    elif rounds is not None:
        wall = n_agents * rounds.waves * x.latency_s
        log.approximations.append("expected_wall_s")
        log.notes.append(
            "wall time: zero-waste rounds (k - lead samples at once), waves of at most the concurrency, "
            "red-flagged samples re-launched; assumes every call takes --latency seconds"
        )
    return dict(
        expected_rounds_per_step=None if rounds is None else rounds.rounds,
        expected_waves_per_step=None if rounds is None else rounds.waves,
        latency_s=x.latency_s, concurrency=x.concurrency, expected_wall_s=wall,
    )


def _cap_fields(x, p_vote, k, n_agents, samples, samples_var, log: _Log) -> dict[str, Any]:
    """P(a step, or any step, ends undecided) under --max-samples."""
    p_und = p_und_job = None
    if x.max_samples is not None:
        p_und, exact = _p_undecided(p_vote, k, x.max_samples, x.valid_rate, samples, samples_var)
        p_und_job = -math.expm1(n_agents * math.log1p(-p_und)) if p_und < 1.0 else 1.0
        if not exact:
            log.approximations += ["p_undecided_per_step", "p_undecided_job"]
        log.notes.append(
            f"expected calls and cost ignore the cap of {x.max_samples} samples per step (an upper bound)"
        )
    return dict(max_samples=x.max_samples, p_undecided_per_step=p_und, p_undecided_job=p_und_job)


def _p_undecided(p_vote, k, cap, v, mean, var) -> tuple[float, bool]:
    """(P(step undecided at the cap), exact?) - exact DP unless it would be too slow."""
    needed = min(cap, maths.pmf_work(p_vote, k, v, tail=1e-18) / (2 * k - 1))
    if needed * (2 * k - 1) <= maths.MAX_WORK:
        return maths.p_undecided(p_vote, k, cap, v), True
    return 1.0 - NormalDist(mean, math.sqrt(var) or 1e-9).cdf(cap + 0.5), False


def _p_text(x: float | None) -> str:
    return "about 0" if x is not None and x < 1e-6 else f"{x:.4g}"


def _cost_function(x: EstimateInputs, step_cost: float | None):
    """Expected job cost as a function of k (0 for k = 0, the empty choice of the budget search)."""

    def cost_of(k: int) -> float:
        if k == 0 or step_cost is None:
            return 0.0
        return maths.job_cost(x.p, k, x.steps, x.m, valid_rate=x.valid_rate, cost_per_step_call=step_cost)

    return cost_of


def _budget(x, k, k_min, cost_of, n_agents, cost_call, warnings) -> BudgetReport:
    if cost_call is None:
        raise UsageError(
            "--budget needs a cost per call: give --output-tokens (and --input-tokens) "
            "with --model or --price-in/--price-out"
        )
    budget = x.budget_usd
    cost_k_min = cost_of(k_min)
    if cost_call == 0.0:
        max_k, max_target = None, 1.0
    else:
        # E[votes] >= k, so cost(k) >= agents * k / v * cost_call bounds the search.
        upper = min(MAX_K, int(budget / (n_agents * cost_call / x.valid_rate)) + 1)
        found = maths.max_k_within(budget, cost_of, upper)
        max_k = found or None
        max_target = maths.p_full(x.p, found, x.steps, x.m) if found else None
    if cost_k_min > budget:
        if max_k is None:
            warnings.append(f"the budget ${budget:,.2f} cannot pay for this job at any k (k = 1 costs ${cost_of(1):,.2f})")
        else:
            warnings.append(
                f"reaching the target {x.target:g} costs ${cost_k_min:,.2f} (k = {k_min}), over the budget "
                f"${budget:,.2f}; the budget reaches P(all correct) = {_p_text(max_target)} with k = {max_k}"
            )
    return BudgetReport(
        budget_usd=budget,
        affordable=cost_k_min <= budget,
        cost_at_k_min=cost_k_min,
        max_k_within_budget=max_k,
        max_target_within_budget=max_target,
        chosen_k_affordable=cost_of(k) <= budget,
    )


def m_comparison(x: EstimateInputs, step_cost: float | None, ms: tuple[int, ...] = M_COMPARISON) -> list[MRow]:
    """k_min and expected cost of the same job with m steps per agent, for m in `ms` (and x.m)."""
    rows: list[MRow] = []
    base_units: float | None = None
    for m in sorted({*ms, x.m}):
        if m > x.steps and m != 1:
            continue
        p_vote = maths.vote_p(x.p, m)
        n_agents = maths.agents(x.steps, m)
        try:
            km = maths.k_min(x.p, x.steps, x.target, m)
        except CannotConverge:
            km = None
        if km is None or km > MAX_K:
            rows.append(MRow(m=m, p_vote=p_vote, agents=n_agents, converges=km is not None, k_min=km,
                             expected_votes_per_step=None, expected_calls=None, relative_cost=None,
                             expected_cost_usd=None))
            continue
        calls = n_agents * maths.expected_votes(p_vote, km) / x.valid_rate
        units = calls * m  # one-step-call equivalents of tokens
        if base_units is None and m == 1:
            base_units = units
        rows.append(
            MRow(
                m=m, p_vote=p_vote, agents=n_agents, converges=True, k_min=km,
                expected_votes_per_step=maths.expected_votes(p_vote, km), expected_calls=calls,
                relative_cost=None if base_units is None else units / base_units,
                expected_cost_usd=None if step_cost is None else units * step_cost,
            )
        )
    return rows


def sweep_ks(k: int, k_min: int) -> list[int]:
    """The k values a sweep shows: a few around k_min, and the chosen k."""
    ks = set(range(max(1, k_min - 3), k_min + 5))
    ks.add(k)
    return sorted(ks)


def _sweep(x, k, k_min, p_vote, n_agents, cost_call) -> list[SweepRow]:
    rows = []
    for kk in sweep_ks(k, k_min):
        samples = maths.expected_votes(p_vote, kk) / x.valid_rate
        calls = n_agents * samples
        pf = maths.p_full(x.p, kk, x.steps, x.m)
        rows.append(
            SweepRow(
                k=kk, p_step=maths.p_step(p_vote, kk), p_full=pf, meets_target=pf >= x.target,
                expected_votes_per_step=maths.expected_votes(p_vote, kk), expected_samples_per_step=samples,
                expected_calls=calls, expected_cost_usd=None if cost_call is None else calls * cost_call,
            )
        )
    return rows


__all__ = [
    "EstimateInputs", "EstimateReport", "MRow", "SweepRow", "BudgetReport",
    "estimate", "m_comparison", "step_call_cost", "sweep_ks",
]
