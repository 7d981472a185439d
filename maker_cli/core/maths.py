"""The MAKER maths: first-to-ahead-by-k voting as a race, its cost and its duration.

Pure functions over floats and ints (stdlib only). Every caller (estimate, run, calibrate, vote, the
MCP server) gets its numbers here.

Conventions
- `p` is the probability that one *valid* sample (one not red-flagged) is correct. Functions that
  take `m` (steps per agent) read `p` as the per-step probability and use `p ** m` for a vote (paper
  Eqs. 15-17); the others read `p` as the probability that a vote is correct.
- Worst case throughout: every wrong sample gives the *same* wrong answer, so a step is a race
  between two answers, and the lead (correct minus wrong votes) is a random walk between -k and +k
  that starts at 0 and steps +1 with probability p. Any spread of wrong answers only helps.
- `valid_rate` v is the share of samples that are not red-flagged; a red-flagged sample is
  discarded and re-drawn, so each vote costs a geometric(v) number of samples.
- `agents(steps, m) = ceil(steps / m)`: the number of races in a job (the paper's s/m, rounded up
  to whole agents; identical for m = 1).

Exact: p_step, p_full, k_min, expected_votes, votes_variance, samples_moments, samples_pmf,
p_undecided, round_stats. Approximations: expected_votes_approx (the paper's k/(2p-1)) and
job_percentiles when it says method "normal".
"""

from __future__ import annotations

import math
from statistics import NormalDist
from dataclasses import dataclass
from typing import Callable, Sequence

from maker_cli.errors import CannotConverge, UsageError

TAIL = 1e-12
"""Probability mass left undecided at which distributions are truncated."""

MAX_WORK = 3_000_000
"""Budget of state updates for the dynamic programmes (about a second of pure Python)."""

PERCENTILES = (0.5, 0.95, 0.99)


# --------------------------------------------------------------------------- checks


def check_p(p: float, m: int = 1) -> float:
    """Validate p (and p ** m); return the vote probability p ** m.

    UsageError if p is outside (0, 1]; CannotConverge if the vote probability is <= 0.5, where
    first-to-ahead-by-k voting cannot converge in the worst case (the wrong answer wins at least
    as often as the right one, whatever k).
    """
    if not isinstance(p, (int, float)) or math.isnan(p) or not 0.0 < p <= 1.0:
        raise UsageError(f"p must be a probability in (0, 1], got {p}")
    check_m(m)
    pv = p**m
    if pv <= 0.5:
        if m == 1:
            raise CannotConverge(
                f"p = {p:g} <= 0.5: voting cannot converge in the worst case (when all wrong samples agree, "
                "the wrong answer wins at least as often as the right one, whatever k); "
                "use a better model, prompt or red flags"
            )
        raise CannotConverge(
            f"p^m = {p:g}^{m} = {pv:.4g} <= 0.5: with m = {m} steps per agent a vote is right no more often "
            "than wrong, so voting cannot converge in the worst case; use a smaller m"
        )
    return pv


def check_target(target: float) -> None:
    """UsageError unless 0 < target < 1."""
    if not isinstance(target, (int, float)) or math.isnan(target) or not 0.0 < target < 1.0:
        raise UsageError(f"target must be a probability in (0, 1), got {target}")


def check_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise UsageError(f"steps must be a whole number >= 1, got {steps}")


def check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise UsageError(f"k must be a whole number >= 1, got {k}")


def check_m(m: int) -> None:
    if not isinstance(m, int) or m < 1:
        raise UsageError(f"m (steps per agent) must be a whole number >= 1, got {m}")


def check_valid_rate(v: float) -> None:
    if not isinstance(v, (int, float)) or math.isnan(v) or not 0.0 < v <= 1.0:
        raise UsageError(f"valid rate must be in (0, 1], got {v}")


# --------------------------------------------------------------------------- closed forms


def error_ratio(p: float) -> float:
    """r = (1 - p) / p, the odds of a wrong vote."""
    return (1.0 - p) / p


def vote_p(p: float, m: int = 1) -> float:
    """Probability that a vote over m steps is correct: p ** m (paper Eq. 15)."""
    return p**m


def agents(steps: int, m: int = 1) -> int:
    """Number of agents (races) in a job of `steps` steps with m steps per agent."""
    return -(-steps // m)


def p_step(p: float, k: int) -> float:
    """P(the race picks the correct answer) = 1 / (1 + r^k), r = (1-p)/p; p is per vote."""
    return 1.0 / (1.0 + error_ratio(p) ** k)


def _log_p_full(r: float, k: int, n: int) -> float:
    return -n * math.log1p(r**k)


def p_full(p: float, k: int, steps: int, m: int = 1) -> float:
    """P(every step of the job is correct) = p_step(p^m, k) ^ agents(steps, m); p is per step."""
    n = agents(steps, m)
    return math.exp(_log_p_full(error_ratio(vote_p(p, m)), k, n))


def k_min(p: float, steps: int, target: float = 0.95, m: int = 1) -> int:
    """Smallest k with p_full >= target (paper Eq. 14, with p^m and s/m agents); at least 1.

    k_min = ceil( ln(t^(-1/n) - 1) / ln((1-p')/p') ), n = agents(steps, m), p' = p^m. The result is
    checked against p_full so float rounding can never make it off by one.
    Raises CannotConverge when p^m <= 0.5 and UsageError for invalid inputs.
    """
    check_steps(steps)
    check_target(target)
    pv = check_p(p, m)
    if pv >= 1.0:
        return 1
    n = agents(steps, m)
    r = error_ratio(pv)
    x = math.expm1(-math.log(target) / n)  # t^(-1/n) - 1, accurate for large n
    k = max(1, math.ceil(math.log(x) / math.log(r)))
    while k > 1 and p_full(p, k - 1, steps, m) >= target:
        k -= 1
    while p_full(p, k, steps, m) < target:
        k += 1
    return k


def expected_votes(p: float, k: int) -> float:
    """Exact expected valid votes per step (gambler's-ruin duration from 0 to +-k); p is per vote.

    E = k/(2p-1) * (1 - r^k)/(1 + r^k) = k * tanh(k*a/2)/(2p-1), a = ln(p/(1-p)); k^2 at p = 1/2.
    """
    if p >= 1.0:
        return float(k)
    if p == 0.5:
        return float(k * k)
    a = math.log(p) - math.log1p(-p)
    return k * math.tanh(k * a / 2.0) / (2.0 * p - 1.0)


def expected_votes_approx(p: float, k: int) -> float:
    """The paper's approximation k / (2p - 1) of the expected votes per step (an upper bound)."""
    return k / (2.0 * p - 1.0)


def _solve_tridiagonal(lower: float, upper: float, rhs: list[float]) -> list[float]:
    """Solve -lower*x[i-1] + x[i] - upper*x[i+1] = rhs[i] (x outside the range = 0), Thomas algorithm."""
    n = len(rhs)
    c = [0.0] * n
    d = [0.0] * n
    c[0] = -upper
    d[0] = rhs[0]
    for i in range(1, n):
        denom = 1.0 + lower * c[i - 1]
        c[i] = -upper / denom
        d[i] = (rhs[i] + lower * d[i - 1]) / denom
    x = [0.0] * n
    x[-1] = d[-1]
    for i in range(n - 2, -1, -1):
        x[i] = d[i] - c[i] * x[i + 1]
    return x


def votes_variance(p: float, k: int) -> float:
    """Exact variance of the valid votes per step (first and second moments of the race duration).

    h(x) = E[T | lead x] and g(x) = E[T^2 | lead x] solve tridiagonal systems on -k < x < k:
    h = 1 + p h(x+1) + q h(x-1);  g = 1 + 2(p h(x+1) + q h(x-1)) + p g(x+1) + q g(x-1).
    """
    if p >= 1.0 or k == 1:
        return 0.0
    q = 1.0 - p
    size = 2 * k - 1
    h = _solve_tridiagonal(q, p, [1.0] * size)
    hh = [0.0, *h, 0.0]
    rhs = [1.0 + 2.0 * (p * hh[i + 2] + q * hh[i]) for i in range(size)]
    g = _solve_tridiagonal(q, p, rhs)
    mid = k - 1
    return max(0.0, g[mid] - h[mid] ** 2)


def samples_moments(p: float, k: int, valid_rate: float = 1.0) -> tuple[float, float]:
    """Exact mean and variance of the samples per step, red-flagged ones included.

    Samples = sum of T geometric(v) draws (T = valid votes): E = E[T]/v,
    Var = E[T](1-v)/v^2 + Var[T]/v^2.
    """
    v = valid_rate
    mean_t = expected_votes(p, k)
    var_t = votes_variance(p, k)
    return mean_t / v, mean_t * (1.0 - v) / v**2 + var_t / v**2


# --------------------------------------------------------------------------- distributions


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


def p_undecided(p: float, k: int, max_samples: int, valid_rate: float = 1.0) -> float:
    """P(no answer leads by k after max_samples samples), red-flagged samples counted; p per vote.

    Exact; the DP stops early once less than 1e-18 is left undecided and returns that bound.
    """
    return samples_pmf(p, k, valid_rate, limit=max_samples, tail=1e-18).undecided


# --------------------------------------------------------------------------- parallel rounds


def _binomial_pmf(n: int, p: float) -> list[float]:
    if p >= 1.0:
        return [0.0] * n + [1.0]
    lp, lq = math.log(p), math.log1p(-p)
    lf = math.lgamma(n + 1)
    return [math.exp(lf - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * lp + (n - j) * lq) for j in range(n + 1)]


def expected_waves(n: int, concurrency: int | None = None, valid_rate: float = 1.0) -> float:
    """Expected waves of calls to collect n valid votes, at most `concurrency` calls per wave.

    Each wave launches min(remaining, concurrency) calls; red-flagged ones are re-launched in the
    next wave. W(r) = (1 + sum_{j>=1} b(j) W(r-j)) / (1 - b(0)); with v = 1, W(n) = ceil(n/c).
    """
    return _waves_table(n, concurrency, valid_rate)[n]


def _waves_table(n_max: int, concurrency: int | None, valid_rate: float) -> list[float]:
    c = concurrency if concurrency is not None else n_max
    c = max(1, c)
    if valid_rate >= 1.0:
        return [float(-(-r // c)) for r in range(n_max + 1)]
    binoms = {w: _binomial_pmf(w, valid_rate) for w in {min(r, c) for r in range(1, n_max + 1)}}
    table = [0.0] * (n_max + 1)
    for r in range(1, n_max + 1):
        b = binoms[min(r, c)]
        acc = 1.0 + sum(b[j] * table[r - j] for j in range(1, len(b)))
        table[r] = acc / (1.0 - b[0])
    return table


@dataclass(frozen=True, slots=True)
class RoundStats:
    """Zero-waste parallel rounds of one step: expectations over the race (exact, to TAIL).

    rounds: expected rounds (round trips with unlimited concurrency, no red flags);
    waves: expected waves of calls given the concurrency limit and red-flag replacement;
    p_correct: P(correct answer wins), equal to p_step (a check).
    """

    rounds: float
    waves: float
    p_correct: float


def round_stats(
    p: float,
    k: int,
    *,
    concurrency: int | None = None,
    valid_rate: float = 1.0,
    tail: float = TAIL,
    max_work: int = MAX_WORK,
) -> RoundStats | None:
    """Expected zero-waste rounds per step by a DP over the signed lead (p per vote).

    With leader margin d no answer can win before k - d more votes, so a round launches exactly
    k - d samples (k in the first); its votes move the lead by (correct - wrong). Returns None if
    the DP would exceed `max_work` state updates (only for k in the hundreds with p near 1/2).
    """
    if (k + 1) * (k + 2) // 2 > max_work:
        return None
    binoms = [_binomial_pmf(n, p) for n in range(k + 1)]
    waves = _waves_table(k, concurrency, valid_rate)
    size = 2 * k - 1
    cur = [0.0] * size
    cur[k - 1] = 1.0  # index = lead + k - 1
    rounds = total_waves = correct = 0.0
    alive = 1.0
    work = 0
    while alive >= tail:
        rounds += alive
        new = [0.0] * size
        for idx, mass in enumerate(cur):
            if mass == 0.0:
                continue
            lead = idx - (k - 1)
            n = k - abs(lead)
            total_waves += mass * waves[n]
            b = binoms[n]
            base = lead - n
            for j in range(n + 1):
                after = base + 2 * j
                if after >= k:
                    correct += mass * b[j]
                elif after > -k:
                    new[after + k - 1] += mass * b[j]
            work += n + 1
        if work > max_work:
            return None
        cur = new
        alive = sum(cur)
    return RoundStats(rounds=rounds, waves=total_waves, p_correct=correct)


# --------------------------------------------------------------------------- whole job


@dataclass(frozen=True, slots=True)
class JobPercentiles:
    """Percentiles of the total samples of a job (sum of `agents` iid steps).

    method is "exact" (convolution of the exact per-step distribution) or "normal" (normal
    approximation from the exact per-step mean and variance: an approximation).
    """

    quantiles: tuple[float, ...]
    samples: tuple[float, ...]
    method: str


def _convolve(a: Sequence[float], b: Sequence[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x == 0.0:
            continue
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _power_pmf(pmf: Sequence[float], times: int) -> list[float]:
    result: list[float] = [1.0]
    base = list(pmf)
    while times:
        if times & 1:
            result = _convolve(result, base)
        times >>= 1
        if times:
            base = _convolve(base, base)
    return result


def _quantile(pmf: Sequence[float], q: float) -> float:
    acc = 0.0
    for n, x in enumerate(pmf):
        acc += x
        if acc >= q:
            return float(n)
    return float(len(pmf) - 1)


def job_percentiles(
    p: float,
    k: int,
    n_agents: int,
    valid_rate: float = 1.0,
    quantiles: Sequence[float] = PERCENTILES,
    *,
    exact_limit: int = 2000,
) -> JobPercentiles:
    """Percentiles of the job's total samples (p per vote; multiply by the cost per call for USD).

    Exact convolution when agents x support of the step distribution <= exact_limit, otherwise a
    normal approximation N(n*mean, n*var) from the exact per-step moments.
    """
    if n_agents * (k / valid_rate) * 4 <= exact_limit and pmf_work(p, k, valid_rate) <= MAX_WORK:
        dist = samples_pmf(p, k, valid_rate)
        if n_agents * len(dist.pmf) <= exact_limit:
            total = _power_pmf(dist.pmf, n_agents)
            return JobPercentiles(tuple(quantiles), tuple(_quantile(total, q) for q in quantiles), "exact")
    mean, var = samples_moments(p, k, valid_rate)
    mu, sigma = n_agents * mean, math.sqrt(n_agents * var)
    if sigma == 0.0:
        return JobPercentiles(tuple(quantiles), tuple(mu for _ in quantiles), "exact")
    normal = NormalDist(mu, sigma)
    values = tuple(max(normal.inv_cdf(q), n_agents * k) for q in quantiles)
    return JobPercentiles(tuple(quantiles), values, "normal")


def job_cost(
    p: float, k: int, steps: int, m: int = 1, *, valid_rate: float = 1.0, cost_per_step_call: float
) -> float:
    """Expected USD of a job: agents x E[samples] x (m x cost of a one-step call); p is per step."""
    n = agents(steps, m)
    return n * expected_votes(vote_p(p, m), k) / valid_rate * m * cost_per_step_call


def max_k_within(budget: float, cost_of_k: Callable[[int], float], k_upper: int) -> int:
    """Largest k in [0, k_upper] with cost_of_k(k) <= budget, for a cost increasing in k (0: none)."""
    lo, hi = 0, k_upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost_of_k(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo
