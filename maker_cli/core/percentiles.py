"""Percentiles of a whole job's samples: the sum of its agents' independent steps. Pure, stdlib only.

Exact (a convolution of the exact per-step distributions of `maker_cli.core.distributions`) while
that is cheap, otherwise a normal approximation from the exact per-step moments; `job_percentiles`
says which (method "exact" or "normal"). The figures ignore the stops (`maker_cli.core.stops`) and
say when that could change them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from maker_cli.core.distributions import alive_iter, samples_pmf
from maker_cli.core.maths import PERCENTILES, samples_moments

PERCENTILE_WORK = 2_000_000
"""Budget of multiply-adds for exact percentiles (about a quarter of a second)."""


@dataclass(frozen=True, slots=True)
class JobPercentiles:
    """Percentiles of the total samples of a job (the sum of its agents' independent steps).

    method is "exact" (convolution of the exact per-step distributions) or "normal" (normal
    approximation from the exact per-step means and variances: an approximation). The figures
    ignore the stops; `ignores_stops` says when that changes them (the exact percentile with the
    stops is then lower, by no more than the shift of the quantile by P(some step stops)).
    """

    quantiles: tuple[float, ...]
    samples: tuple[float, ...]
    method: str
    ignores_stops: bool = False


def _convolve(a: Sequence[float], b: Sequence[float], limit: int | None = None) -> list[float]:
    """a * b, truncated to indices <= limit (the values kept are exact)."""
    size = len(a) + len(b) - 1 if limit is None else min(len(a) + len(b) - 1, limit + 1)
    out = [0.0] * size
    nb = len(b)
    for i, x in enumerate(a):
        if i >= size:
            break
        if x == 0.0:
            continue
        end = min(size, i + nb)
        out[i:end] = [o + x * y for o, y in zip(out[i:end], b, strict=False)]  # b cut at the limit
    return out


def _power_pmf(pmf: Sequence[float], times: int, limit: int | None = None) -> list[float]:
    result: list[float] = [1.0]
    base = list(pmf)
    while times:
        if times & 1:
            result = _convolve(result, base, limit)
        times >>= 1
        if times:
            base = _convolve(base, base, limit)
    return result


def _quantile(pmf: Sequence[float], q: float) -> float | None:
    acc = 0.0
    for n, x in enumerate(pmf):
        acc += x
        if acc >= q:
            return float(n)
    return None


def _step_pmf(p: float, k: int, v: float, limit: int, until: float = 2.0) -> list[float]:
    """P(one step draws n samples) for n <= limit (or until the CDF reaches `until`), exact."""
    out: list[float] = []
    if v >= 1.0:
        acc = 0.0
        for _, mass in alive_iter(p, k):
            out.append(mass)
            acc += mass
            if len(out) > limit or acc >= until:
                break
        return out
    return samples_pmf(p, k, v, limit=limit, tail=max(0.0, 1.0 - until)).pmf


def job_percentiles(
    p: float,
    k: int,
    n_agents: int,
    valid_rate: float = 1.0,
    quantiles: Sequence[float] = PERCENTILES,
    *,
    groups: Sequence[tuple[int, float]] | None = None,
    stop_mass: float = 0.0,
    max_work: float = PERCENTILE_WORK,
) -> JobPercentiles:
    """Percentiles of the job's total samples (p per vote; multiply by the cost per call for USD).

    `groups` ((count, p per vote), ...) replaces (n_agents, p) when the agents differ (the last
    agent of a job whose m does not divide the steps). Exact when the distribution up to the
    highest percentile is cheap to convolve (always for one step, often for a few), otherwise a
    normal approximation N(sum of means, sum of variances) from the exact per-step moments.
    `stop_mass`, P(some step stops undecided), says whether the stops could move an exact
    percentile (JobPercentiles.ignores_stops).
    """
    groups = [(c, pv) for c, pv in (groups if groups is not None else [(n_agents, p)]) if c > 0]
    v = valid_rate
    qs = tuple(quantiles)
    moments = [(c, *samples_moments(pv, k, v)) for c, pv in groups]
    mean = sum(c * m for c, m, _ in moments)
    var = sum(c * s2 for c, _, s2 in moments)
    floor = sum(c for c, _ in groups) * k
    if var <= 0.0:
        return JobPercentiles(qs, tuple(mean for _ in qs), "exact")
    for sds in (4.0, 8.0):
        found = _exact_percentiles(groups, k, v, qs, mean + sds * math.sqrt(var), stop_mass, max_work)
        if found is not None:
            return found
    normal = NormalDist(mean, math.sqrt(var))
    return JobPercentiles(
        qs, tuple(max(normal.inv_cdf(q), floor) for q in qs), "normal", ignores_stops=stop_mass > 1e-3
    )


def _exact_percentiles(
    groups: Sequence[tuple[int, float]],
    k: int,
    v: float,
    qs: tuple[float, ...],
    reach: float,
    stop_mass: float,
    max_work: float,
) -> JobPercentiles | None:
    """Exact percentiles from the distribution truncated at `reach` samples (None if too costly, or
    if the highest percentile lies beyond). With v = 1 every step's votes are k + 2j, so the
    convolutions run over j alone."""
    n_total = sum(c for c, _ in groups)
    q_top = max(qs)
    lattice = v >= 1.0
    limit = math.ceil(reach) + 1
    size = (limit - n_total * k) // 2 + 1 if lattice else limit + 1
    if size < 1:
        return None
    per_state = (k / 2 + 2) if lattice else (2 * k - 1)
    convs = max(0, sum(c.bit_length() + bin(c).count("1") for c, _ in groups) - 1)
    if n_total == 1:
        work = limit * per_state
    else:
        work = len({pv for _, pv in groups}) * limit * per_state + convs * size * size / 2
    if work > max_work:
        return None
    total: list[float] = [1.0]
    for count, pv in groups:
        step = _step_pmf(pv, k, v, limit, until=q_top + 1e-9 if n_total == 1 else 2.0)
        if lattice:
            step = step[k::2]
        step = step[:size]
        total = _convolve(total, _power_pmf(step, count, size - 1), size - 1)

    def at(index: float | None) -> float | None:
        if index is None:
            return None
        return float(n_total * k + 2 * index) if lattice else index

    values = [at(_quantile(total, q)) for q in qs]
    lows = [at(_quantile(total, max(0.0, q - stop_mass))) for q in qs] if stop_mass > 0.0 else values
    found = tuple(x for x in values if x is not None)
    if len(found) < len(values):
        return None  # the highest percentile lies beyond `reach`
    return JobPercentiles(qs, found, "exact", ignores_stops=lows != values)


__all__ = ["JobPercentiles", "job_percentiles"]
