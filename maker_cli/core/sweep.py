"""The estimate's comparison tables: the same job with other steps per agent (m) and other k.

`m_comparison` gives k_min and the expected cost for m in 1, 2, 4, 8 (closed forms, without the
stops); `sweep_rows` gives, for a few k around k_min and the chosen k, the reliability, the
probability that some step stops undecided (exact, as in the estimate, or bounded where the DP
would be too long) and the expected calls and cost.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from maker_cli.core import maths
from maker_cli.core.estimate_report import MRow, SweepRow
from maker_cli.core.maths import MAX_K
from maker_cli.core.stops import job_stops
from maker_cli.errors import CannotConverge

if TYPE_CHECKING:
    from maker_cli.core.estimate import EstimateInputs

M_COMPARISON = (1, 2, 4, 8)
SWEEP_WORK = 300_000
"""DP budget per sweep row; beyond it a row's stops are bounded (P(success) from below)."""


def m_comparison(x: EstimateInputs, step_cost: float | None, ms: tuple[int, ...] = M_COMPARISON) -> list[MRow]:
    """k_min and expected cost of the same job with m steps per agent, for m in `ms` (and x.m)."""
    rows: list[MRow] = []
    base_units: float | None = None
    for m in sorted({*ms, x.m}):
        if m > x.steps and m != 1:
            continue
        p_vote = maths.vote_p(x.p, m)
        n_agents = maths.agents(x.steps, m)
        groups = maths.agent_groups(x.steps, m)
        try:
            km = maths.k_min(x.p, x.steps, x.target, m)
        except CannotConverge:
            km = None
        if km is None or km > MAX_K:
            rows.append(
                MRow(
                    m=m,
                    p_vote=p_vote,
                    agents=n_agents,
                    converges=km is not None,
                    k_min=km,
                    expected_votes_per_step=None,
                    expected_calls=None,
                    relative_cost=None,
                    expected_cost_usd=None,
                )
            )
            continue
        calls = sum(n * maths.expected_votes(maths.vote_p(x.p, size), km) for n, size in groups) / x.valid_rate
        # one-step-call equivalents of tokens (the last agent of a job m does not divide has fewer steps)
        units = sum(n * maths.expected_votes(maths.vote_p(x.p, size), km) * size for n, size in groups) / x.valid_rate
        if base_units is None and m == 1:
            base_units = units
        rows.append(
            MRow(
                m=m,
                p_vote=p_vote,
                agents=n_agents,
                converges=True,
                k_min=km,
                expected_votes_per_step=maths.expected_votes(p_vote, km),
                expected_calls=calls,
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


def sweep_rows(x: EstimateInputs, k: int, k_min: int, cost_call: float | None) -> list[SweepRow]:
    """The same job at each k of sweep_ks: reliability, P(undecided), P(success), calls and cost."""
    rows = []
    p_und: float | None
    success: float | None
    for kk in sweep_ks(k, k_min):
        pf = maths.p_full(x.p, kk, x.steps, x.m)
        if kk <= MAX_K:
            job = job_stops(x.p, kk, x.steps, x.m, x.valid_rate, x.max_samples, x.max_red_flags, max_work=SWEEP_WORK)
            calls, units, p_und = job.calls(), job.units(), job.p_undecided()
            success = math.exp(math.log(pf) + job.log_decided()) if pf > 0.0 else 0.0
            samples = job.main.stops.expected_samples
        else:  # not practical: the closed forms only
            p_und = success = None
            samples = maths.expected_votes(maths.vote_p(x.p, x.m), kk) / x.valid_rate
            calls = maths.agents(x.steps, x.m) * samples
            units = calls * x.m
        rows.append(
            SweepRow(
                k=kk,
                p_step=maths.p_step(maths.vote_p(x.p, x.m), kk),
                p_full=pf,
                meets_target=(success if success is not None else pf) >= x.target,
                expected_votes_per_step=maths.expected_votes(maths.vote_p(x.p, x.m), kk),
                expected_samples_per_step=samples,
                expected_calls=calls,
                expected_cost_usd=None if cost_call is None else units * cost_call / x.m,
                p_undecided_job=p_und,
                p_success=success,
            )
        )
    return rows


__all__ = ["M_COMPARISON", "SWEEP_WORK", "m_comparison", "sweep_ks", "sweep_rows"]
