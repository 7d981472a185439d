"""Estimate a MAKER job before running it: k, reliability, votes, calls, tokens, cost, wall time.

`estimate` turns resolved `EstimateInputs` (prices included: `maker_cli.jobs.estimate` resolves
them) into an `EstimateReport` using `maker_cli.core.maths` (exact race maths); its tables of the
same job at other m and k come from `maker_cli.core.sweep`. No display code here: the CLI and the
MCP server render the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from maker_cli._types import JSONObject
from maker_cli.core import maths
from maker_cli.core.estimate_report import BudgetReport, EstimateReport, MRow, SweepRow
from maker_cli.core.latency import Latency
from maker_cli.core.maths import MAX_K
from maker_cli.core.stops import JobStops, job_stops
from maker_cli.core.sweep import M_COMPARISON, SWEEP_WORK, m_comparison, sweep_ks, sweep_rows
from maker_cli.errors import CannotConverge, UsageError


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
    latency_p95_s: float | None = None  # with latency_s (the median): a lognormal latency
    latency_sd_s: float | None = None  # or its standard deviation
    speculate: int = 0  # --speculate D: steps started on a leading candidate before the step before is decided
    concurrency: int | None = None
    budget_usd: float | None = None
    max_samples: int | None = None
    max_red_flags: int | None = None  # None: maths.default_max_red_flags(k, valid_rate), as the engine
    sweep: bool = False
    calibration_file: str | None = None
    notes: tuple[str, ...] = ()
    cached_share: float = 0.0  # the share of input tokens served from the provider's prompt cache
    price_cached: float | None = None  # USD per million cached input tokens; None: price_in (no discount)


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
    if not 0.0 <= x.cached_share <= 1.0:
        raise UsageError(f"--cached-share must be between 0 and 1, got {x.cached_share}")
    if x.price_cached is not None and not (x.price_cached >= 0 and math.isfinite(x.price_cached)):
        raise UsageError(f"the cache price must be a number >= 0, got {x.price_cached}")
    if x.latency_s is not None and not (x.latency_s > 0 and math.isfinite(x.latency_s)):
        raise UsageError(f"--latency must be seconds > 0, got {x.latency_s}")
    if (x.latency_p95_s is not None or x.latency_sd_s is not None) and x.latency_s is None:
        raise UsageError("--latency-p95 and --latency-sd describe the spread around --latency (the median): give it")
    if x.latency_s is not None:
        try:
            Latency.fit(x.latency_s, p95_s=x.latency_p95_s, sd_s=x.latency_sd_s)
        except ValueError as exc:
            raise UsageError(str(exc).replace("the p95 latency", "--latency-p95")) from None
    if isinstance(x.speculate, bool) or not isinstance(x.speculate, int) or not 0 <= x.speculate <= 64:
        raise UsageError(f"--speculate takes a whole number of steps from 0 to 64, not {x.speculate!r}")
    if x.concurrency is not None and x.concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {x.concurrency}")
    if x.max_samples is not None and x.max_samples < 1:
        raise UsageError(f"--max-samples must be >= 1, got {x.max_samples}")
    if x.max_red_flags is not None and (isinstance(x.max_red_flags, bool) or x.max_red_flags < 1):
        raise UsageError(f"--max-red-flags must be >= 1, got {x.max_red_flags}")


# --------------------------------------------------------------------------- the estimate


def step_call_cost(x: EstimateInputs, *, cached: bool = True) -> float | None:
    """USD of one one-step call (m = 1), or None if tokens or their prices are missing. The share
    `cached_share` of the input costs `price_cached` (price_in when None); `cached=False`: no caching."""
    if x.input_tokens is None and x.output_tokens is None:
        return None
    if (x.input_tokens and x.price_in is None) or (x.output_tokens and x.price_out is None):
        return None
    price_in = x.price_in or 0.0
    input_price = price_in
    if cached and x.cached_share:
        cache_rate = price_in if x.price_cached is None else x.price_cached
        input_price = (1.0 - x.cached_share) * price_in + x.cached_share * cache_rate
    return ((x.input_tokens or 0.0) * input_price + (x.output_tokens or 0.0) * (x.price_out or 0.0)) / 1e6


@dataclass(slots=True)
class _Log:
    """What an estimate says about itself besides the numbers."""

    notes: list[str]
    warnings: list[str] = field(default_factory=list)
    approximations: list[str] = field(default_factory=lambda: ["expected_votes_per_step_approx"])


def _job(x: EstimateInputs, k: int) -> JobStops:
    """How the job's steps end under its stops (max_red_flags None: the engine's default rule)."""
    return job_stops(x.p, k, x.steps, x.m, x.valid_rate, x.max_samples, x.max_red_flags)


def estimate(x: EstimateInputs) -> EstimateReport:
    """Compute the full estimate. UsageError / CannotConverge on inputs that cannot be estimated."""
    _check_inputs(x)
    p_vote = maths.check_p(x.p, x.m)
    k_min = maths.k_min(x.p, x.steps, x.target, x.m)
    log = _Log(notes=list(x.notes))
    if k_min > MAX_K:
        if x.k is None:
            raise CannotConverge(
                f"p = {maths.p_text(x.p)} is so close to 0.5 that k_min = {k_min:,}: each step would need about "
                f"{maths.expected_votes(p_vote, k_min):.3g} votes; voting cannot converge in practice"
            )
        log.warnings.append(
            f"p = {maths.p_text(x.p)} is so close to 0.5 that the target needs k_min = {k_min:,} "
            f"(about {maths.expected_votes(p_vote, k_min):.3g} votes per step): not practical"
        )
    k = x.k if x.k is not None else k_min
    if x.p >= 1.0:
        log.notes.append(
            "p = 1 is the degenerate perfect model: every valid sample is right, so k = 1 suffices "
            "and a step takes exactly k votes"
        )
    job = _job(x, k)
    n_agents = maths.agents(x.steps, x.m)
    samples = job.main.stops.expected_samples
    calls = job.calls()
    pf = maths.p_full(x.p, k, x.steps, x.m)
    p_und_job = job.p_undecided()
    p_success = math.exp(math.log(pf) + job.log_decided()) if pf > 0.0 else 0.0
    if k < k_min:
        log.warnings.append(
            f"k = {k} is below k_min = {k_min:,}: P(all correct) = {pf:.4g} misses the target {x.target:g}"
        )
    _stop_notes(x, job, k, pf, p_und_job, p_success, log)
    if x.m > 1 and x.steps % x.m:
        rest = x.steps % x.m
        log.notes.append(
            f"m does not divide the steps: the last agent has {rest} step{'s' if rest > 1 else ''}, so its votes "
            f"are right with p^{rest} = {maths.vote_p(x.p, rest):.4g} (its calls cost {rest}/{x.m} of the others')"
        )
    step_cost = step_call_cost(x)
    cost_call = None if step_cost is None else x.m * step_cost
    cost_of = _cost_function(x, step_cost)
    return EstimateReport(
        steps=x.steps,
        m=x.m,
        agents=n_agents,
        p=x.p,
        p_vote=p_vote,
        target=x.target,
        valid_rate=x.valid_rate,
        k=k,
        k_min=k_min,
        meets_target=p_success >= x.target,
        p_step=maths.p_step(p_vote, k),
        p_full=pf,
        p_success=p_success,
        expected_votes_per_step=maths.expected_votes(p_vote, k),
        expected_votes_per_step_approx=maths.expected_votes_approx(p_vote, k),
        votes_per_step_sd=math.sqrt(maths.votes_variance(p_vote, k)),
        expected_samples_per_step=samples,
        expected_calls=calls,
        model=x.model,
        price_in=x.price_in,
        price_out=x.price_out,
        price_source=x.price_source,
        **_cost_fields(x, job, k, step_cost, cost_call, p_und_job, log),
        **_time_fields(x, job, k, log),
        max_samples=x.max_samples,
        max_red_flags=job.max_red_flags,
        max_red_flags_derived=job.derived,
        p_undecided_per_step=job.main.stops.p_undecided,
        hope_saved_per_step=job.main.stops.hope_saved,
        p_undecided_job=p_und_job,
        **(
            _budget(x, k, k_min, cost_of, n_agents, cost_call, job, log).model_dump()
            if x.budget_usd is not None
            else {}
        ),
        m_comparison=m_comparison(x, step_cost),
        sweep=sweep_rows(x, k, k_min, cost_call) if x.sweep else None,
        approximations=list(dict.fromkeys(log.approximations)),
        notes=log.notes,
        warnings=log.warnings,
        calibration_file=x.calibration_file,
    )


def _stop_notes(
    x: EstimateInputs, job: JobStops, k: int, pf: float, p_und_job: float, p_success: float, log: _Log
) -> None:
    """What the stops do to the job: notes, warnings, and which figures are bounds."""
    flags = f"{job.max_red_flags:,} red-flagged sample{'s' if job.max_red_flags != 1 else ''}" + (
        f" (the default for k and valid rate {x.valid_rate:g}; --max-red-flags sets it)" if job.derived else ""
    )
    if x.max_samples is None and x.valid_rate >= 1.0:
        log.notes.append(
            "stops: no step can end undecided here (no --max-samples, and at valid rate 1 no sample is "
            f"red-flagged, so the stop at {job.max_red_flags:,} red flags never comes)"
        )
    else:
        cap = f"{x.max_samples:,} sample{'s' if x.max_samples != 1 else ''} or " if x.max_samples is not None else ""
        log.notes.append(
            f"stops: a step ends undecided at {cap}{flags}, as the engine stops it; P(undecided), P(success) and "
            "the expected samples, calls and cost include them" + (" exactly" if job.exact else "")
        )
    flags_bind = x.valid_rate < 1.0 and (x.max_samples is None or job.max_red_flags < x.max_samples)
    extra = (k - 1) * job.main.stops.p_undecided if flags_bind else 0.0
    if extra > 1e-9 * job.main.stops.expected_samples:
        log.approximations += [
            "expected_samples_per_step",
            "expected_calls",
            "expected_input_tokens",
            "expected_output_tokens",
            "expected_cost_usd",
        ]
        log.notes.append(
            "expected samples count a step stopped by the red-flag limit up to its last red flag; samples of its "
            f"round still in flight then (at most k - 1) also land: up to {extra:.3g} more per step"
        )
    if x.max_samples is not None:
        saved = job.main.stops.hope_saved
        if saved is None:
            log.notes.append(
                "loss of hope (a step stops once no answer can win within the cap) is not counted here: the cap is "
                "too long for the exact computation, so the expected samples are upper bounds"
            )
            log.approximations += ["expected_samples_per_step", "expected_calls"]
        elif saved > 0:
            log.notes.append(
                f"loss of hope: a step stops as soon as no answer can win within the {x.max_samples:,}-sample cap "
                f"(same outcome: undecided), saving {saved:.3g} samples per step (counted exactly in the samples)"
            )
    if not job.exact:
        log.approximations += [
            "p_undecided_per_step",
            "p_undecided_job",
            "p_success",
            "meets_target",
            "expected_samples_per_step",
            "expected_calls",
        ]
        log.notes.append(
            "stops: the exact computation is too long here; P(undecided) and the expected samples are "
            "upper bounds (P(success) a lower bound)"
        )
    p_wrong = -math.expm1(math.log(pf)) if pf > 0.0 else 1.0
    if p_und_job > p_wrong and p_und_job >= 0.1 * (1.0 - x.target):
        miss = (
            f"; the job misses the target {x.target:g} (P(success) = {p_success:.4g}) although P(all steps "
            f"correct) = {pf:.4g}"
            if p_success < x.target <= pf
            else ""
        )
        log.warnings.append(
            f"undecided steps dominate the risk: P(some step ends undecided) = {p_und_job:.4g} against "
            f"P(some step wrong) = {p_wrong:.4g}{miss}; raise --max-samples or --max-red-flags (or improve the "
            "valid rate)"
        )


def _cost_fields(
    x: EstimateInputs,
    job: JobStops,
    k: int,
    step_cost: float | None,
    cost_call: float | None,
    p_und_job: float,
    log: _Log,
) -> JSONObject:
    """Calls percentiles, tokens and cost (mean and percentiles)."""
    pct = maths.job_percentiles(
        job.main.p_vote,
        k,
        job.main.count,
        x.valid_rate,
        groups=[(g.count, g.p_vote) for g in job.groups],
        stop_mass=p_und_job,
    )
    n_agents = sum(g.count for g in job.groups)
    if pct.method == "normal":
        log.approximations += ["calls_p50", "calls_p95", "calls_p99"]
        log.notes.append(
            "call percentiles: normal approximation from the exact per-step mean and variance "
            f"over {n_agents:,} independent steps"
        )
    else:
        log.notes.append("call percentiles: exact (convolution of the exact per-step distribution)")
    if pct.ignores_stops:
        if pct.method == "exact":
            log.approximations += ["calls_p50", "calls_p95", "calls_p99"]
        log.notes.append(
            "call percentiles ignore the stops, which can lower them here (a stopped step draws fewer samples): "
            "upper bounds"
        )
    elif (job.main.stops.hope_saved or 0.0) > 0.0:
        if pct.method == "exact":
            log.approximations += ["calls_p50", "calls_p95", "calls_p99"]
        log.notes.append("call percentiles do not take off what loss of hope saves under the cap: upper bounds")
    if cost_call is not None:
        log.approximations += ["cost_p50_usd", "cost_p95_usd", "cost_p99_usd"]
        log.notes.append("cost percentiles take every call's tokens at their mean")
        if not x.input_tokens and x.output_tokens:
            log.notes.append("no input tokens given: cost counts output tokens only")
    elif x.input_tokens is None and x.output_tokens is None:
        log.notes.append("cost: give --output-tokens/--input-tokens (per call) and a --model or --price-in/--price-out")
    else:
        log.notes.append("cost: prices unknown; give --model or --price-in/--price-out (USD per million tokens)")
    units = job.units()
    uncached = step_call_cost(x, cached=False) if x.cached_share else step_cost
    if x.cached_share and step_cost is not None:
        if x.price_cached is None:
            log.notes.append(
                f"cached share {x.cached_share:g}: no cache rate known for these prices, so cached input tokens cost "
                "the input price (no saving)"
            )
        else:
            log.notes.append(
                f"cost: {x.cached_share:.1%} of the input tokens at the cache rate ${x.price_cached:g}/M "
                f"(without caching: {'-' if uncached is None else f'${units * uncached:,.2f}'})"
            )
    tokens_in = None if x.input_tokens is None else x.m * x.input_tokens
    tokens_out = None if x.output_tokens is None else x.m * x.output_tokens
    usd = (lambda n: None) if cost_call is None else (lambda n: n * cost_call)
    return dict(
        calls_p50=pct.samples[0],
        calls_p95=pct.samples[1],
        calls_p99=pct.samples[2],
        percentile_method=pct.method,
        input_tokens_per_call=tokens_in,
        output_tokens_per_call=tokens_out,
        cost_per_call_usd=cost_call,
        expected_input_tokens=None if x.input_tokens is None else units * x.input_tokens,
        expected_output_tokens=None if x.output_tokens is None else units * x.output_tokens,
        expected_cost_usd=None if step_cost is None else units * step_cost,
        cached_share=x.cached_share,
        price_cached=x.price_cached,
        expected_cached_tokens=None if x.input_tokens is None else units * x.input_tokens * x.cached_share,
        cost_per_call_uncached_usd=None if uncached is None else x.m * uncached,
        expected_cost_uncached_usd=None if uncached is None else units * uncached,
        cost_p50_usd=usd(pct.samples[0]),
        cost_p95_usd=usd(pct.samples[1]),
        cost_p99_usd=usd(pct.samples[2]),
    )


def _time_fields(x: EstimateInputs, job: JobStops, k: int, log: _Log) -> JSONObject:
    """Zero-waste rounds and waves per step, and the wall time with --latency."""
    stats = [maths.round_stats(g.p_vote, k, concurrency=x.concurrency, valid_rate=x.valid_rate) for g in job.groups]
    rounds = stats[0]
    if rounds is None:
        log.notes.append(f"rounds and wall time not computed: k = {k} is too large for the exact DP")
    wall = spec_wall = waste = None
    latency: Latency | None = None
    if x.latency_s is None:
        log.notes.append("wall time: give --latency (seconds per call; the median with --latency-p95/--latency-sd)")
    elif all(r is not None for r in stats):
        latency = Latency.fit(x.latency_s, p95_s=x.latency_p95_s, sd_s=x.latency_sd_s)
        wall = spec_wall = waste = 0.0
        samples = 0.0
        for g, r in zip(job.groups, stats, strict=True):
            assert r is not None  # checked above
            step = _step_seconds(latency, g.p_vote, k, r.rounds, r.waves, x.valid_rate)
            wall += g.count * step
            per_step, waste_step = _speculative_step(latency, g.p_vote, k, step, x.speculate, x.valid_rate)
            spec_wall += g.count * per_step
            waste += g.count * waste_step
            samples += g.count * maths.expected_votes(g.p_vote, k) / x.valid_rate
        waste = waste / samples if samples else 0.0
        log.approximations.append("expected_wall_s")
        spread = (
            f"a lognormal latency with median {latency.median_s:g} s and p95 {latency.p95_s:.3g} s: a round lasts "
            "the expected slowest of its draws"
            if latency.sigma
            else "every call takes --latency seconds (give --latency-p95 or --latency-sd for a spread)"
        )
        log.notes.append(
            f"wall time: zero-waste rounds (k - lead samples at once), waves of at most the concurrency, "
            f"red-flagged samples re-launched; {spread}"
        )
        if x.speculate:
            log.approximations += ["expected_wall_speculative_s", "expected_waste_share"]
            log.notes.append(
                f"--speculate {x.speculate}: a step starts when the step before has its first valid answer (the "
                "fastest of its first round) and that answer is the winner with probability about p; otherwise "
                "the started branch is wasted and the step starts at the decision (an approximation)"
            )
    return dict(
        expected_rounds_per_step=None if rounds is None else rounds.rounds,
        expected_waves_per_step=None if rounds is None else rounds.waves,
        latency_s=x.latency_s,
        latency_p95_s=None if latency is None else latency.p95_s,
        latency_sigma=None if latency is None else latency.sigma,
        concurrency=x.concurrency,
        expected_wall_s=wall,
        speculate=x.speculate,
        expected_wall_speculative_s=spec_wall if x.speculate else None,
        expected_waste_share=waste if x.speculate else None,
    )


def _step_seconds(latency: Latency, p: float, k: int, rounds: float, waves: float, valid_rate: float) -> float:
    """A step's expected seconds: the slowest of the first round's k draws (k / valid rate with
    red flags replaced), then the later rounds (their mean size from the expected samples), scaled
    by waves / rounds for the concurrency limit. With a fixed latency: waves x latency."""
    first = k / valid_rate
    later_rounds = max(rounds - 1.0, 0.0)
    later_samples = max(maths.expected_votes(p, k) / valid_rate - first, 0.0)
    later = latency.expected_max(max(later_samples / later_rounds, 1.0)) if later_rounds > 0 else 0.0
    seconds = latency.expected_max(first) + later_rounds * later
    return seconds * (waves / rounds if rounds > 0 else 1.0)


def _speculative_step(
    latency: Latency, p: float, k: int, step: float, depth: int, valid_rate: float
) -> tuple[float, float]:
    """(seconds per step, wasted samples per step) with --speculate `depth`: the next step starts
    at the first valid answer (the fastest of k draws), kept when that answer wins (about p), so
    a pipeline of depth + 1 steps overlaps; a wrong first answer wastes the branches started from
    it (a first round each) and the next step starts at the decision."""
    if depth <= 0:
        return step, 0.0
    first = latency.expected_min(k / valid_rate)
    right = min(max(p, 0.0), 1.0)
    kept = max(first, step / (depth + 1))
    seconds = right * kept + (1 - right) * step
    started = min(depth, math.ceil(step / first)) if first > 0 else depth
    return seconds, (1 - right) * started * k / valid_rate


def _p_text(x: float | None) -> str:
    return "about 0" if x is not None and x < 1e-6 else f"{x:.4g}"


def _cost_function(x: EstimateInputs, step_cost: float | None) -> Callable[[int], float]:
    """Expected job cost as a function of k (0 for k = 0, the empty choice of the budget search)."""

    def cost_of(k: int) -> float:
        if k == 0 or step_cost is None:
            return 0.0
        return maths.job_cost(x.p, k, x.steps, x.m, valid_rate=x.valid_rate, cost_per_step_call=step_cost)

    return cost_of


def _budget(
    x: EstimateInputs,
    k: int,
    k_min: int,
    cost_of: Callable[[int], float],
    n_agents: int,
    cost_call: float | None,
    job: JobStops,
    log: _Log,
) -> BudgetReport:
    warnings = log.warnings
    if cost_call is None:
        raise UsageError(
            "--budget needs a cost per call: give --output-tokens (and --input-tokens) "
            "with --model or --price-in/--price-out"
        )
    budget = x.budget_usd
    assert budget is not None  # called only with a budget
    cost_k_min = cost_of(k_min)
    max_target: float | None
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
            warnings.append(
                f"the budget ${budget:,.2f} cannot pay for this job at any k (k = 1 costs ${cost_of(1):,.2f})"
            )
        else:
            warnings.append(
                f"reaching the target {x.target:g} costs ${cost_k_min:,.2f} (k = {k_min}), over the budget "
                f"${budget:,.2f}; the budget reaches P(all correct) = {_p_text(max_target)} with k = {max_k}"
            )
    stopped = job.units() * (cost_call / x.m)
    if cost_of(k) > 0.0 and abs(cost_of(k) - stopped) > 1e-9 * cost_of(k):
        log.notes.append("budget: costs per k count every step to its decision, without the stops (an upper bound)")
    return BudgetReport(
        budget_usd=budget,
        affordable=cost_k_min <= budget,
        cost_at_k_min=cost_k_min,
        max_k_within_budget=max_k,
        max_target_within_budget=max_target,
        chosen_k_affordable=cost_of(k) <= budget,
    )


__all__ = [
    "MAX_K",
    "M_COMPARISON",
    "SWEEP_WORK",
    "EstimateInputs",
    "EstimateReport",
    "MRow",
    "SweepRow",
    "BudgetReport",
    "estimate",
    "m_comparison",
    "step_call_cost",
    "sweep_ks",
]
