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
  to whole agents; identical for m = 1). When m does not divide the steps, the last agent has
  `steps mod m` steps, so its votes are right with p^(steps mod m): `agent_groups` says which.
- p is in (0.5, 1] for voting to make sense: p <= 0.5 cannot converge (CannotConverge), p = 1 is
  the degenerate perfect model (k = 1, one vote per step); anything else is a UsageError.
- Two stops end a step undecided (the engine's, exactly): the per-step sample cap `max_samples`
  and `max_red_flags` red-flagged samples (default: `default_max_red_flags(k, v)`, the one rule
  the engine and the estimate share). `step_stops` (`maker_cli.core.stops`) gives the exact
  P(undecided) and expected samples under both, `job_stops` the same for every agent of a job.

Exact: p_step, p_full, k_min, expected_votes, votes_variance, samples_moments, samples_pmf,
p_undecided, step_stops and job_stops (unless they say otherwise), round_stats. Approximations:
expected_votes_approx (the paper's k/(2p-1)) and job_percentiles when it says method "normal".

Here: the checks, the red-flag rule and the closed forms. Loaded from their own modules on first
use: the race's distributions (`distributions`), a step's and a job's stops (`stops`), a job's
percentiles (`percentiles`) and the parallel rounds (`rounds`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from maker_cli.errors import CannotConverge, UsageError

TAIL = 1e-12
"""Probability mass left undecided at which distributions are truncated."""

MAX_WORK = 3_000_000
"""Budget of state updates for the dynamic programmes (about a second of pure Python)."""

MAX_K = 100_000
"""Beyond this k a job is not practical (p is within a hair of 0.5): the estimate refuses rather than grinds."""

PERCENTILES = (0.5, 0.95, 0.99)


# --------------------------------------------------------------------------- checks


def check_p(p: float, m: int = 1) -> float:
    """Validate p (and p ** m); return the vote probability p ** m.

    The rule, everywhere: p must be in (0.5, 1]. UsageError if p is not a probability in (0, 1];
    CannotConverge if the vote probability is <= 0.5, where first-to-ahead-by-k voting cannot
    converge in the worst case (the wrong answer wins at least as often as the right one, whatever
    k). p = 1 is accepted as the degenerate perfect model: k = 1 and one vote per step.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or math.isnan(p) or not 0.0 < p <= 1.0:
        raise UsageError(f"p must be a probability in (0.5, 1], got {p}")
    check_m(m)
    pv = p**m
    if pv <= 0.5:
        if m == 1:
            raise CannotConverge(
                f"p = {p_text(p)} <= 0.5: voting cannot converge in the worst case (when all wrong samples agree, "
                "the wrong answer wins at least as often as the right one, whatever k); "
                "use a better model, prompt or red flags"
            )
        raise CannotConverge(
            f"p^m = {p_text(p)}^{m} = {pv:.4g} <= 0.5: with m = {m} steps per agent a vote is right no more often "
            "than wrong, so voting cannot converge in the worst case; use a smaller m"
        )
    return pv


def p_text(p: float) -> str:
    """p with every digit it has (0.5000001 stays 0.5000001, never 0.5)."""
    return repr(float(p)) if float(p) != int(p) else f"{int(p)}"


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


MIN_VALID_RATE = 1e-6  # below it a vote needs over a million samples per valid one: nothing to estimate


def check_valid_rate(v: float) -> None:
    if not isinstance(v, (int, float)) or math.isnan(v) or not 0.0 < v <= 1.0:
        raise UsageError(f"valid rate must be in (0, 1], got {v}")
    if v < MIN_VALID_RATE:
        raise UsageError(
            f"valid rate {v:g} is below {MIN_VALID_RATE:g}: more than a million samples would be red-flagged for each "
            "valid one; fix the prompt, the output format or the red flags first"
        )


def check_max_red_flags(f: int | None) -> None:
    if f is not None and (isinstance(f, bool) or not isinstance(f, int) or f < 1):
        raise UsageError(f"max_red_flags must be a whole number >= 1, got {f}")


# --------------------------------------------------------------------------- the red-flag stop

RED_FLAG_VOTES = (4, 100)
"""default_max_red_flags covers the red flags met while drawing 4 k^2 + 100 valid votes."""
RED_FLAG_FLOOR = 200
"""... plus 200 + 10 k red flags of slack (all there is when the valid rate is 1 or unknown)."""


def default_max_red_flags(k: int, valid_rate: float | None = 1.0) -> int:
    """The default red-flag stop: a step ends undecided once this many of its samples are red-flagged.

    One rule, called by the engine's VoteConfig, by `maker run` (with the run's valid rate) and by
    the estimate, so the estimate always prices the stop the engine applies:

        F = 200 + 10 k + ceil(mu + 6 sigma),  mu = V (1 - v) / v,  sigma = sqrt(V (1 - v)) / v,
        V = 4 k^2 + 100

    mu and sigma are the mean and standard deviation of the red flags met while drawing V valid
    votes at valid rate v (negative binomial). V covers every race a healthy model runs: a race
    to a lead of k takes about k / (2p - 1) votes, under k^2 even near p = 1/2 when k = k_min,
    and its tail decays geometrically. So a model whose valid rate is what was assumed
    essentially never meets the stop (`maker estimate` shows the exact probability), while a model
    that never answers in format wastes at most F samples on one step: the step ends undecided
    and the run stops. With v = 1, or unknown (None or 0), F = 200 + 10 k.
    """
    check_k(k)
    v = 1.0 if not valid_rate or valid_rate >= 1.0 else float(valid_rate)
    slack = RED_FLAG_FLOOR + 10 * k
    if v >= 1.0:
        return slack
    votes = RED_FLAG_VOTES[0] * k * k + RED_FLAG_VOTES[1]
    mean = votes * (1.0 - v) / v
    sd = math.sqrt(votes * (1.0 - v)) / v
    return slack + math.ceil(mean + 6.0 * sd)


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


def agent_groups(steps: int, m: int = 1) -> list[tuple[int, int]]:
    """The agents of a job as (how many, steps each): steps // m agents of m steps, and one agent of
    steps mod m steps when m does not divide the steps (its votes are right with p^(steps mod m))."""
    full, rest = divmod(steps, m)
    return [(n, size) for n, size in ((full, m), (1 if rest else 0, rest)) if n]


def p_step(p: float, k: int) -> float:
    """P(the race picks the correct answer) = 1 / (1 + r^k), r = (1-p)/p; p is per vote."""
    return 1.0 / (1.0 + error_ratio(p) ** k)


def _log_p_full(r: float, k: int, n: int) -> float:
    return -n * math.log1p(r**k)


def p_full(p: float, k: int, steps: int, m: int = 1) -> float:
    """P(every step of the job is correct) = product over agents of p_step(p^size, k); p is per step.

    With m dividing the steps this is p_step(p^m, k) ^ (steps / m); otherwise the last agent has
    steps mod m steps and votes right with p^(steps mod m).
    """
    return math.exp(sum(_log_p_full(error_ratio(vote_p(p, size)), k, n) for n, size in agent_groups(steps, m)))


DEFAULT_TARGET = 0.95
"""The job's target P(every step right) when none is given (the settings' default)."""


def k_min(p: float, steps: int, target: float = DEFAULT_TARGET, m: int = 1) -> int:
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

    E = k/(2p-1) * (1 - r^k)/(1 + r^k) = k * tanh(k a)/(2p-1), a = ln(p/(1-p))/2 = atanh(2p-1)
    (accurate even for p within a hair of 1/2); k^2 at p = 1/2.
    """
    if p >= 1.0:
        return float(k)
    if p == 0.5:
        return float(k * k)
    x = 2.0 * p - 1.0
    return k * math.tanh(k * math.atanh(x)) / x


def expected_votes_approx(p: float, k: int) -> float:
    """The paper's approximation k / (2p - 1) of the expected votes per step (an upper bound)."""
    return k / (2.0 * p - 1.0)


def _sinh_minus_x(y: float) -> float:
    """sinh(y) - y for y >= 0, without cancellation (series below 1)."""
    if y < 1.0:
        term, total, n = y**3 / 6.0, 0.0, 3
        while term > 1e-17 * (total or 1e-300) and n < 60:
            total += term
            term *= y * y / ((n + 1) * (n + 2))
            n += 2
        return total
    return math.sinh(y) - y


def _sech2(x: float) -> float:
    e = math.exp(-2.0 * x)
    return 4.0 * e / (1.0 + e) ** 2


def votes_variance(p: float, k: int) -> float:
    """Exact variance of the valid votes per step, from a closed form stable for every p and k.

    With a = ln(p/q)/2 and x = k a, the duration T of the race has pgf E[z^T] = cosh(x) / cosh(k phi)
    with cosh(phi) = cosh(a) / z, so Var T = k^2 coth(a)^2 B,  B = h tanh(x)/x - sech(x)^2,
    h = 2a / sinh(2a), and coth(a) = 1 / (2p - 1). For x >= 1 B is evaluated as written (the
    second term is at most about 3/4 of the first); for x < 1, where both terms are near 1, as
    B = (sinh 2x - 2x) sech(x)^2 / (2x) - (1 - h) tanh(x)/x with sinh y - y and 1 - h from their
    series (the second term at most 1/k^2 of the first). No digits are lost for p near 1/2, for p
    near 1, or for a huge k. At p = 1/2 it is 2 k^2 (k^2 - 1) / 3.
    """
    if p >= 1.0 or k == 1:
        return 0.0
    q = 1.0 - p
    if p == 0.5:
        return 2.0 * k * k * (k * k - 1) / 3.0
    a = math.atanh(2.0 * p - 1.0)  # ln(p/q) / 2, accurate even for p near 1/2
    x = k * a
    two_a = 2.0 * a
    if x >= 1.0:
        h = two_a / math.sinh(two_a) if two_a < 700.0 else 2.0 * two_a * math.exp(-two_a)
        bracket = h * math.tanh(x) / x - _sech2(x)
    else:  # then 2a < 2 too
        one_minus_h = _sinh_minus_x(two_a) / math.sinh(two_a)
        bracket = _sinh_minus_x(2.0 * x) / (2.0 * x) * _sech2(x) - one_minus_h * math.tanh(x) / x
    coth = 1.0 / (p - q)  # coth(a) = 1 / (2p - 1), exact for p >= 1/2
    return max(0.0, k * k * coth * coth * bracket)


def samples_moments(p: float, k: int, valid_rate: float = 1.0) -> tuple[float, float]:
    """Exact mean and variance of the samples per step, red-flagged ones included.

    Samples = sum of T geometric(v) draws (T = valid votes): E = E[T]/v,
    Var = E[T](1-v)/v^2 + Var[T]/v^2.
    """
    v = valid_rate
    mean_t = expected_votes(p, k)
    var_t = votes_variance(p, k)
    return mean_t / v, mean_t * (1.0 - v) / v**2 + var_t / v**2


def job_cost(p: float, k: int, steps: int, m: int = 1, *, valid_rate: float = 1.0, cost_per_step_call: float) -> float:
    """Expected USD of a job: over its agents, E[samples] x (steps per agent x cost of a one-step
    call); p is per step (the last agent of a job m does not divide has steps mod m steps)."""
    units = sum(n * expected_votes(vote_p(p, size), k) * size for n, size in agent_groups(steps, m))
    return units / valid_rate * cost_per_step_call


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


# The race's distributions, the stops, the percentiles and the parallel rounds live in their own
# modules (which import the closed forms above); every caller still gets all its numbers from
# `maths`, loaded on first use (PEP 562) so that any of these modules may be imported first.
_LAZY = {
    "maker_cli.core.distributions": ("StepDistribution", "alive_list", "pmf_work", "samples_pmf", "votes_pmf"),
    "maker_cli.core.stops": ("JobStops", "StepStops", "job_stops", "p_undecided", "step_stops"),
    "maker_cli.core.percentiles": ("JobPercentiles", "job_percentiles"),
    "maker_cli.core.rounds": ("RoundStats", "expected_waves", "round_stats"),
}


if TYPE_CHECKING:  # what __getattr__ hands out, for type checkers and linters
    from maker_cli.core.distributions import StepDistribution, alive_list, pmf_work, samples_pmf, votes_pmf
    from maker_cli.core.percentiles import JobPercentiles, job_percentiles
    from maker_cli.core.rounds import RoundStats, expected_waves, round_stats
    from maker_cli.core.stops import JobStops, StepStops, job_stops, p_undecided, step_stops


def __getattr__(name: str) -> object:
    for module, names in _LAZY.items():
        if name in names:
            import importlib  # only when a lazy name is asked for: `import maths` stays light

            value = getattr(importlib.import_module(module), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_TARGET",
    "MAX_K",
    "MAX_WORK",
    "PERCENTILES",
    "TAIL",
    "JobPercentiles",
    "JobStops",
    "RoundStats",
    "StepDistribution",
    "StepStops",
    "agent_groups",
    "agents",
    "alive_list",
    "check_k",
    "check_m",
    "check_max_red_flags",
    "check_p",
    "check_steps",
    "check_target",
    "check_valid_rate",
    "default_max_red_flags",
    "error_ratio",
    "expected_votes",
    "expected_votes_approx",
    "expected_waves",
    "job_cost",
    "job_percentiles",
    "job_stops",
    "k_min",
    "max_k_within",
    "p_full",
    "p_step",
    "p_text",
    "p_undecided",
    "pmf_work",
    "round_stats",
    "samples_moments",
    "samples_pmf",
    "step_stops",
    "vote_p",
    "votes_pmf",
    "votes_variance",
]
