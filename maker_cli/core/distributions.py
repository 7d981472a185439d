"""Exact distributions of one race: the samples (and valid votes) a step needs, and the race's
survival. Pure, stdlib only.

The race (worst case, p per vote) is a walk of the lead between -k and +k. Its survival
alive(n) = P(T > n), T = the valid votes that decide the step, comes from a dynamic programme over
the lead (exact, all terms positive), two votes at a time over the k positions of one parity.

How a step ends under its stops (the sample cap and the red-flag limit) is in
`maker_cli.core.stops`; percentiles of a whole job's samples in `maker_cli.core.percentiles`.
Every caller gets all of them from `maker_cli.core.maths`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maker_cli.core.maths import TAIL


@dataclass(frozen=True, slots=True)
class StepDistribution:
    """Distribution of the samples one step needs (pmf[n] = P(decided at sample n); pmf[0] = 0).

    `undecided` is the mass still racing after len(pmf) - 1 samples (below TAIL unless `limit` cut
    the computation short); `p_correct` is the mass absorbed at the correct answer.
    """

    pmf: list[float]
    undecided: float
    p_correct: float

    @property
    def mean(self) -> float:
        return sum(n * x for n, x in enumerate(self.pmf))

    @property
    def total(self) -> float:
        return sum(self.pmf)


def _tail_rate(p: float, k: int, valid_rate: float) -> float:
    """Largest eigenvalue of the lazy race walk: the per-sample decay of the undecided mass."""
    lam = 2.0 * math.sqrt(p * (1.0 - p)) * math.cos(math.pi / (2 * k))
    return 1.0 - valid_rate * (1.0 - lam)


def pmf_work(p: float, k: int, valid_rate: float = 1.0, tail: float = TAIL) -> float:
    """Predicted state updates of samples_pmf down to `tail` (to decide whether it is affordable)."""
    rate = _tail_rate(p, k, valid_rate)
    steps = k / valid_rate + (math.log(tail) / math.log(rate) if 0.0 < rate < 1.0 else 0.0)
    return steps * (2 * k - 1)


def samples_pmf(
    p: float, k: int, valid_rate: float = 1.0, *, limit: int | None = None, tail: float = TAIL
) -> StepDistribution:
    """Exact distribution of samples per step by dynamic programming over the lead (p per vote).

    Each sample is red-flagged with probability 1 - v (lead unchanged), else a vote that moves the
    lead +1 with probability p, -1 otherwise; the race ends at +-k. Stops when the undecided mass
    falls below `tail`, or after `limit` samples. With v = 1 this is the votes distribution.
    """
    v = valid_rate
    up, down, stay = v * p, v * (1.0 - p), 1.0 - v
    size = 2 * k - 1
    cur = [0.0] * size
    cur[k - 1] = 1.0
    pmf = [0.0]
    correct = 0.0
    alive = 1.0
    n = 0
    while alive >= tail and (limit is None or n < limit):
        n += 1
        win, lose = up * cur[-1], down * cur[0]
        padded = [0.0, *cur, 0.0]
        cur = [stay * padded[i + 1] + up * padded[i] + down * padded[i + 2] for i in range(size)]
        pmf.append(win + lose)
        correct += win
        alive = sum(cur)
    return StepDistribution(pmf=pmf, undecided=min(1.0, max(alive, 0.0)), p_correct=correct)


def votes_pmf(p: float, k: int, *, limit: int | None = None, tail: float = TAIL) -> StepDistribution:
    """Exact distribution of the valid votes per step (samples_pmf with valid rate 1)."""
    return samples_pmf(p, k, 1.0, limit=limit, tail=tail)


def first_to_k_votes_pmf(p: float, k: int) -> StepDistribution:
    """Exact distribution of the valid votes per step under first-to-k (two answers, p per vote).

    The race ends at the n-th vote (k <= n <= 2k - 1) when either answer gets its k-th vote then:
    P(T = n) = C(n-1, k-1) (p^k q^(n-k) + q^k p^(n-k)). Nothing is left undecided."""
    q = 1.0 - p
    pmf = [0.0] * k
    correct = 0.0
    for n in range(k, 2 * k):
        ways = math.comb(n - 1, k - 1)
        win, lose = ways * p**k * q ** (n - k), ways * q**k * p ** (n - k)
        pmf.append(win + lose)
        correct += win
    return StepDistribution(pmf=pmf, undecided=0.0, p_correct=correct)


# --------------------------------------------------------------------------- the race's survival


def alive_iter(p: float, k: int) -> Iterator[tuple[float, float]]:
    """(alive(n), P(T = n)) for n = 0, 1, 2, ...: the exact DP, two votes at a time.

    After n votes the lead has the parity of n, so only k (or k - 1) positions are live; two votes
    move x to x + 2 (p^2), x (2pq, or pq at +-(k-1) where one path is absorbed) or x - 2 (q^2).
    Every figure is a sum of positive terms. Ends once alive(n) = 0 (in floating point).
    """
    q = 1.0 - p
    if k == 1:
        yield 1.0, 0.0
        yield 0.0, 1.0
        return
    # positions of one parity: the class of even n holds 0; `outer` when its ends are +-(k-1)
    outer = k % 2 == 1
    size = k if outer else k - 1
    cur = [0.0] * size
    cur[size // 2] = 1.0
    pp, qq, pq2, pq = p * p, q * q, 2.0 * p * q, p * q
    alive = 1.0
    yield 1.0, 0.0
    while alive > 0.0:
        # n -> n + 1: absorption only from +-(k-1)
        if outer:
            pmf1 = p * cur[-1] + q * cur[0]
            alive1 = (sum(cur[1:-1]) if size > 2 else 0.0) + q * cur[-1] + p * cur[0]
        else:
            pmf1, alive1 = 0.0, alive
        yield alive1, pmf1
        ext = [0.0, *cur, 0.0]
        new = [
            pp * a + pq2 * b + qq * c for a, b, c in zip(ext, ext[1:], ext[2:], strict=False)
        ]  # triples: the shorter slices end it
        if outer:
            new[0] -= pq * cur[0]
            new[-1] -= pq * cur[-1]
            pmf2 = 0.0
        else:
            pmf2 = pp * cur[-1] + qq * cur[0]
        cur = new
        alive = sum(cur)
        yield alive, pmf2


def alive_list(p: float, k: int, n_max: int) -> list[float]:
    """[alive(0), ..., alive(n_max)] by the exact DP (exact zeros once it underflows)."""
    out: list[float] = []
    for alive, _ in alive_iter(p, k):
        out.append(alive)
        if len(out) > n_max:
            break
    return out + [0.0] * (n_max + 1 - len(out))


# Names that lived here before the module was split, still importable from here (PEP 562: loaded
# on first use, since those modules import this one).
_MOVED = {
    "maker_cli.core.stops": ("EPS", "REL_TOL", "TINY", "StepStops", "p_undecided", "step_stops"),
    "maker_cli.core.percentiles": ("PERCENTILE_WORK", "JobPercentiles", "job_percentiles"),
}

if TYPE_CHECKING:  # what __getattr__ hands out, for type checkers (`as`: re-exported)
    from maker_cli.core.percentiles import PERCENTILE_WORK as PERCENTILE_WORK
    from maker_cli.core.percentiles import JobPercentiles as JobPercentiles
    from maker_cli.core.percentiles import job_percentiles as job_percentiles
    from maker_cli.core.stops import EPS as EPS
    from maker_cli.core.stops import REL_TOL as REL_TOL
    from maker_cli.core.stops import TINY as TINY
    from maker_cli.core.stops import StepStops as StepStops
    from maker_cli.core.stops import p_undecided as p_undecided
    from maker_cli.core.stops import step_stops as step_stops


def __getattr__(name: str) -> object:
    for module, names in _MOVED.items():
        if name in names:
            import importlib  # only when a moved name is asked for (they load their modules lazily)

            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "StepDistribution",
    "alive_iter",
    "alive_list",
    "first_to_k_votes_pmf",
    "pmf_work",
    "samples_pmf",
    "votes_pmf",
]
