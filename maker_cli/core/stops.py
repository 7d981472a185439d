"""How one step ends under its stops (the sample cap and the red-flag limit), exactly, and so how
the steps of a whole job end. Pure, stdlib only.

The race (worst case, p per vote) is a walk of the lead between -k and +k; alive(n) = P(T > n),
T = the valid votes that decide the step. Two tools give it:

- the exact dynamic programme over the lead (`maker_cli.core.distributions.alive_iter`);
- the spectral form of the killed walk. With a = ln(p/q)/2, theta_j = j pi / (2k) and j odd,
      alive(n) = sum_j c_j lambda_j^n,  lambda_j = 2 sqrt(pq) cos(theta_j),
      c_j = (-1)^((j-1)/2) sin(theta_j) cosh(k a) / (k (cosh a - cos theta_j)),
  k terms for any n.

A step's stops only reach the race through W, the valid votes drawn before a stop (independent of
the race), so P(undecided) = E[alive(W)] and E[valid votes] = sum_m alive(m) P(W > m): sums of
c_j E[lambda_j^W], closed forms when W is negative binomial (the red-flag stop) or binomial (the
sample cap). Terms can cancel, so every closed form comes with a rounding bound, and when the bound
is not below 1e-10 of the value the DP decides. `step_stops` and `p_undecided` are exact (an upper
bound only where they say method "bounds"); `job_stops` applies them to every agent of a job.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from maker_cli.core.distributions import alive_iter
from maker_cli.core.maths import MAX_WORK, agent_groups, default_max_red_flags, expected_votes, vote_p

EPS = 2.220446049250313e-16
REL_TOL = 1e-10
"""A closed form is used when its rounding bound is below REL_TOL of its value (or below TINY, or
below what N or F roundings give, for a stop at N samples or F red flags)."""
TINY = 1e-300
"""Probabilities below this are reported as 0 (the DP's floor; the true value is smaller)."""


# --------------------------------------------------------------------------- the spectral form


@lru_cache(maxsize=16)
def _modes(p: float, k: int) -> tuple[tuple[float, float, float, float], ...]:
    """(log |c_j|, sign c_j, lambda_j, 1 - lambda_j) for odd j: alive(n) = sum c_j lambda_j^n."""
    q = 1.0 - p
    a = math.atanh(2.0 * p - 1.0)  # ln(p/q) / 2, accurate even for p near 1/2
    ka = k * a
    log_cosh_ka = ka + math.log1p(math.exp(-2.0 * ka)) - math.log(2.0)
    root = math.sqrt(p * q)
    gap = (p - q) ** 2 / (math.sqrt(p) + math.sqrt(q)) ** 2  # 1 - 2 sqrt(pq), without cancellation
    sh = math.sinh(a / 2.0)
    base = -math.log(k) + log_cosh_ka
    modes = []
    for j in range(1, 2 * k, 2):
        theta = j * math.pi / (2 * k)
        half = math.sin(theta / 2.0)
        den = 2.0 * sh * sh + 2.0 * half * half  # cosh a - cos theta
        lam = 2.0 * root * math.sin((k - j) * math.pi / (2 * k))  # cos(theta), accurate near pi/2
        one_minus = gap + 4.0 * root * half * half  # 1 - lambda, without cancellation
        sign = 1.0 if (j // 2) % 2 == 0 else -1.0
        modes.append((base + math.log(math.sin(theta)) - math.log(den), sign, lam, one_minus))
    return tuple(modes)


def _spectral(p: float, k: int, term: Callable[[float, float], tuple[float, float, float]]) -> tuple[float, float]:
    """(sum_j c_j g(lambda_j), rounding bound) where term(lambda, 1 - lambda) = (log|g|, sign g,
    relative error of g in eps); summed in scaled form so huge c_j cannot overflow."""
    parts = []
    for log_c, sign_c, lam, one_minus in _modes(p, k):
        log_g, sign_g, err_g = term(lam, one_minus)
        if sign_g == 0.0:
            continue
        parts.append((log_c + log_g, sign_c * sign_g, err_g + 8.0 * (30.0 + abs(log_c))))
    if not parts:
        return 0.0, 0.0
    top = max(x[0] for x in parts)
    if top < -745.0:
        return 0.0, 0.0
    a_err = 8.0 * abs(top)  # the scaling, in eps
    total = err = 0.0
    for log_t, sign, err_g in parts:
        mag = math.exp(log_t - top)
        total += sign * mag
        err += mag * (a_err + err_g)
    err *= EPS

    def scaled(x: float) -> float:
        if x == 0.0:
            return 0.0
        log_x = top + math.log(abs(x))
        return math.copysign(math.exp(log_x), x) if log_x < 709.0 else math.copysign(math.inf, x)

    return scaled(total), scaled(err)


def _power_term(
    base: Callable[[float, float], tuple[float, float]], power: int, divide: bool
) -> Callable[[float, float], tuple[float, float, float]]:
    """term(lambda) = base(lambda)^power [/ (1 - lambda)], base giving (value, its relative error in eps)."""

    def term(lam: float, one_minus: float) -> tuple[float, float, float]:
        b, b_err = base(lam, one_minus)
        if b == 0.0:
            return 0.0, 0.0, 0.0
        log_g = power * math.log(abs(b))
        sign = -1.0 if (b < 0.0 and power % 2) else 1.0
        err = power * b_err + 4.0 + abs(log_g)
        if divide:
            log_g -= math.log(one_minus)
            err += 4.0
        return log_g, sign, err

    return term


def _accept(value: float, err: float, power: int) -> bool:
    """A closed form is exact enough when its rounding bound is below REL_TOL of the value, or below
    the rounding that any method accumulates over `power` votes or samples (16 eps each)."""
    return math.isfinite(value) and (err <= max(REL_TOL, 16.0 * EPS * power) * abs(value) or err <= TINY)


# --------------------------------------------------------------------------- a step's stops


@dataclass(frozen=True, slots=True)
class StepStops:
    """How one step ends under its stops (p per vote), red-flagged samples counted.

    p_undecided: P(the step stops undecided: the sample cap or the red-flag limit first);
    expected_samples: E[samples the step draws], stops included. Exact (`exact`) unless the
    computation would be too long: then p_undecided and expected_samples are upper bounds and the
    `_low` fields lower bounds. method: "none" (nothing can stop the step), "closed form", "dp" or
    "bounds".
    """

    p_undecided: float
    p_undecided_low: float
    expected_samples: float
    expected_samples_low: float
    exact: bool
    method: str
    max_samples: int | None
    max_red_flags: int | None
    hope_saved: float | None = 0.0  # samples per step loss of hope saves (already taken off); None: not computed


def _log_nb(m: int, f: int, log_u: float, log_v: float) -> float:
    """log P(V = m), V = valid votes before the f-th red flag (negative binomial)."""
    return math.lgamma(m + f) - math.lgamma(m + 1) - math.lgamma(f) + f * log_u + m * log_v


def _log_binom(m: int, n: int, log_v: float, log_u: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1) + m * log_v + (n - m) * log_u


def _w_pmf(v: float, cap: int | None, flags: int | None) -> tuple[Callable[[int], float], int | None, float]:
    """P(W = m), the largest W (None: unbounded) and E[W]; W = valid votes drawn before a stop.

    The red-flag stop alone: W = votes before the F-th red flag (negative binomial). The cap alone:
    W = votes among the first N samples (binomial). Both: W = the smaller of the two on the same
    samples: negative binomial up to N - F, binomial above.
    """
    u = 1.0 - v
    if u <= 0.0:  # every sample valid: W = the cap
        assert cap is not None
        return (lambda m: 1.0 if m == cap else 0.0), cap, float(cap)
    log_u, log_v = math.log(u), math.log(v)
    if cap is None:
        assert flags is not None
        return (lambda m: math.exp(_log_nb(m, flags, log_u, log_v))), None, flags * v / u
    if flags is None or flags >= cap:
        return (lambda m: math.exp(_log_binom(m, cap, log_v, log_u)) if 0 <= m <= cap else 0.0), cap, cap * v

    def pmf(m: int) -> float:
        if m <= cap - flags:
            return math.exp(_log_nb(m, flags, log_u, log_v))
        return math.exp(_log_binom(m, cap, log_v, log_u)) if m <= cap else 0.0

    return pmf, cap, min(cap * v, flags * v / u)


def _dp_stops(
    p: float, k: int, v: float, cap: int | None, flags: int | None, max_work: float
) -> tuple[float, float] | None:
    """(P(undecided), E[valid votes drawn]) by the DP: sum_m P(W = m) alive(m) and
    sum_m P(W > m) alive(m); None when it would exceed max_work state updates."""
    pmf, top, mean_w = _w_pmf(v, cap, flags)
    # one stop: W's pmf is log-concave, its tail bounded geometrically; both stops: only past m = cap - flags
    concave_after = -1 if cap is None or flags is None else cap - flags
    width = max(1, k // 2 + 1)
    acc_p = acc_e = 0.0
    survive = 1.0  # P(W > m - 1)
    w, w_next = pmf(0), pmf(1)
    for m, (alive, _) in enumerate(alive_iter(p, k)):
        if m * width > max_work:
            return None
        survive_m = max(0.0, survive - w)  # P(W > m), by subtraction: absolute error < 4 eps (m + 1)
        acc_p += w * alive
        acc_e += survive_m * alive
        survive = survive_m
        if top is not None and m >= top:
            break
        # remainders: alive never grows, so sum_{i>m} P(W=i) alive(i) <= alive(m) P(W > m) and
        # sum_{i>m} P(W>i) alive(i) <= alive(m) E[(W - m)+]
        w_after = pmf(m + 2)
        tail, spread = survive_m + 4.0 * EPS * (m + 1), mean_w + 1.0
        if m > concave_after and 0.0 < w_next <= w and w_after < w_next:
            ratio = w_after / w_next  # beyond the mode the ratios fall: a geometric bound
            tail = min(tail, w_next / (1.0 - ratio))
            spread = 1.0 / (1.0 - ratio)
        if alive * tail <= 1e-17 * acc_p + TINY and alive * tail * spread <= 1e-17 * acc_e + TINY:
            break
        w, w_next = w_next, w_after
    return min(1.0, acc_p), acc_e


def _closed_stops(p: float, k: int, v: float, cap: int | None, flags: int | None) -> tuple[float, float, float, float]:
    """(P(undecided), its rounding bound, E[valid votes drawn], its bound) in closed form, for one
    stop: E[lambda^W] is rho^F (red flags, rho = u / (1 - v lambda)) or (u + v lambda)^N (the cap)."""
    u = 1.0 - v
    if cap is None or (flags is not None and flags < cap):
        assert flags is not None

        def base(lam: float, one_minus: float) -> tuple[float, float]:
            return u / (u + v * one_minus), 8.0  # 1 - v lambda = u + v (1 - lambda): no cancellation

        power = flags
    else:

        def base(lam: float, one_minus: float) -> tuple[float, float]:
            b = u + v * lam
            return b, (4.0 + 6.0 * (u + v * abs(lam)) / abs(b)) if b != 0.0 else 0.0

        power = cap
    und, und_err = _spectral(p, k, _power_term(base, power, divide=False))
    tail, tail_err = _spectral(p, k, _power_term(base, power, divide=True))
    mean_t = expected_votes(p, k)
    return und, und_err, mean_t - tail, tail_err + 4.0 * EPS * mean_t


def step_stops(
    p: float,
    k: int,
    valid_rate: float = 1.0,
    max_samples: int | None = None,
    max_red_flags: int | None = None,
    *,
    max_work: float = MAX_WORK,
) -> StepStops:
    """`race_stops`, with the samples loss of hope saves under a sample cap taken off the expected
    samples (P(undecided) is unchanged: loss of hope stops only steps the cap would stop undecided)."""
    found = race_stops(p, k, valid_rate, max_samples, max_red_flags, max_work=max_work)
    if max_samples is None:
        return found
    flags = max_red_flags if max_red_flags is not None and max_red_flags < max_samples else None
    # loss of hope saves fewer than max_samples, and only on steps the cap alone would leave undecided
    by_cap = found if flags is None or valid_rate >= 1.0 else race_stops(p, k, valid_rate, max_samples, None)
    if by_cap.exact and by_cap.p_undecided * max_samples <= 1e-13 * found.expected_samples_low:
        return dataclasses.replace(found, hope_saved=0.0)
    hopeful = hopeful_step(p, k, valid_rate, max_samples, flags)
    if hopeful is None:
        return dataclasses.replace(found, hope_saved=None)
    saved = max(0.0, found.expected_samples - hopeful[1])
    return dataclasses.replace(
        found,
        expected_samples=hopeful[1],
        expected_samples_low=min(found.expected_samples_low, hopeful[1]),
        hope_saved=saved,
    )


def race_stops(
    p: float,
    k: int,
    valid_rate: float = 1.0,
    max_samples: int | None = None,
    max_red_flags: int | None = None,
    *,
    max_work: float = MAX_WORK,
) -> StepStops:
    """How one step ends when it stops undecided at `max_samples` samples or `max_red_flags`
    red-flagged ones (None: no such stop), exactly as the engine stops it; p is per vote.

    W, the valid votes drawn before a stop, does not depend on the race, so P(undecided) =
    E[alive(W)] and E[samples] = E[min(T, W)] / v (Wald). Closed forms (module doc) for one stop,
    the DP for both or when a closed form's rounding bound is too large; beyond `max_work` the
    two one-stop figures bound the two-stop ones (max <= P <= sum).
    """
    v, cap, flags = valid_rate, max_samples, max_red_flags
    if v >= 1.0:
        flags = None  # no sample is ever red-flagged
    elif cap is not None and flags is not None and flags >= cap:
        flags = None  # the cap always comes first
    mean_t = expected_votes(p, k)

    def done(
        und: float,
        valid: float,
        method: str,
        *,
        low: float | None = None,
        valid_low: float | None = None,
        exact: bool = True,
    ) -> StepStops:
        und = min(1.0, max(0.0, und))
        return StepStops(
            p_undecided=und,
            p_undecided_low=und if low is None else min(1.0, max(0.0, low)),
            expected_samples=valid / v,
            expected_samples_low=(valid if valid_low is None else valid_low) / v,
            exact=exact,
            method=method,
            max_samples=max_samples,
            max_red_flags=max_red_flags,
        )

    if cap is None and flags is None:
        return done(0.0, mean_t, "none")
    if p >= 1.0:  # T = k exactly: alive(m) = 1 below k, 0 from k on
        if v >= 1.0:
            assert cap is not None  # flags cannot bind at v = 1, and one stop is set
            return done(1.0 if cap < k else 0.0, float(min(cap, k)), "closed form")
        pmf, _, _ = _w_pmf(v, cap, flags)
        below = [pmf(m) for m in range(k)]
        return done(sum(below), sum(_survivals(below)), "closed form")
    if cap is not None and flags is not None:
        one_f = race_stops(p, k, v, None, flags, max_work=max_work)
        one_n = race_stops(p, k, v, cap, None, max_work=max_work)
        high, low = min(1.0, one_f.p_undecided + one_n.p_undecided), max(one_f.p_undecided_low, one_n.p_undecided_low)
        e_high = min(one_f.expected_samples, one_n.expected_samples) * v
        e_low = max(0.0, (one_f.expected_samples_low + one_n.expected_samples_low) * v - mean_t)
        if one_f.exact and one_n.exact and high - low <= REL_TOL * high and e_high - e_low <= REL_TOL * e_high:
            return done(high, e_high, "closed form")
        found = _dp_stops(p, k, v, cap, flags, max_work)
        if found is not None:
            return done(found[0], found[1], "dp")
        return done(high, e_high, "bounds", low=low, valid_low=e_low, exact=False)
    und, und_err, valid, valid_err = _closed_stops(p, k, v, cap, flags)
    power = cap if cap is not None else flags
    assert power is not None  # exactly one stop is left here: none and both returned above
    if _accept(und, und_err, power) and _accept(valid, valid_err, power):
        return done(und, valid, "closed form")
    found = _dp_stops(p, k, v, cap, flags, max_work)
    if found is not None:
        return done(found[0], found[1], "dp")
    if not (math.isfinite(und) and math.isfinite(valid)):  # pragma: no cover - never seen
        return done(1.0, mean_t, "bounds", low=0.0, valid_low=0.0, exact=False)
    return done(und + und_err, valid + valid_err, "bounds", low=und - und_err, valid_low=valid - valid_err, exact=False)


def _survivals(pmf_below: Sequence[float]) -> list[float]:
    out, survive = [], 1.0
    for w in pmf_below:
        survive = max(0.0, survive - w)
        out.append(survive)
    return out


def p_undecided(
    p: float, k: int, max_samples: int | None, valid_rate: float = 1.0, max_red_flags: int | None = None
) -> float:
    """P(a step stops undecided: no answer leads by k within max_samples samples, or max_red_flags
    samples are red-flagged first); p per vote. Exact (see step_stops; an upper bound only where it
    says method "bounds")."""
    return race_stops(p, k, valid_rate, max_samples, max_red_flags).p_undecided


# --------------------------------------------------------------------------- a job's stops


@dataclass(frozen=True, slots=True)
class AgentStops:
    """`count` agents of `size` steps each: their votes are right with p_vote = p^size, and each of
    their steps ends as `stops` says."""

    count: int
    size: int
    p_vote: float
    stops: StepStops


@dataclass(frozen=True, slots=True)
class JobStops:
    """How the steps of a job end under their stops: one group of agents, or two when m does not
    divide the steps (maths.agent_groups). `derived`: max_red_flags is the default rule's."""

    groups: tuple[AgentStops, ...]
    max_red_flags: int
    derived: bool

    @property
    def main(self) -> AgentStops:
        return self.groups[0]

    @property
    def exact(self) -> bool:
        return all(g.stops.exact for g in self.groups)

    def calls(self) -> float:
        """Expected samples (calls) of the whole job, stops included."""
        return sum(g.count * g.stops.expected_samples for g in self.groups)

    def units(self) -> float:
        """Expected one-step-call equivalents (a call of an agent of `size` steps costs `size`)."""
        return sum(g.count * g.stops.expected_samples * g.size for g in self.groups)

    def log_decided(self) -> float:
        """log P(every step is decided)."""
        return sum(
            g.count * math.log1p(-g.stops.p_undecided) if g.stops.p_undecided < 1.0 else -math.inf for g in self.groups
        )

    def p_undecided(self) -> float:
        """P(some step of the job stops undecided)."""
        return 0.0 - math.expm1(self.log_decided())  # 0.0 - : never -0.0


def job_stops(
    p: float,
    k: int,
    steps: int,
    m: int = 1,
    valid_rate: float = 1.0,
    max_samples: int | None = None,
    max_red_flags: int | None = None,
    *,
    max_work: float = MAX_WORK,
) -> JobStops:
    """How every step of a job ends (p per step, m steps per agent): step_stops for each group of
    agents. max_red_flags None is the engine's default, maths.default_max_red_flags(k, valid_rate)."""
    flags = max_red_flags if max_red_flags is not None else default_max_red_flags(k, valid_rate)
    groups = tuple(
        AgentStops(
            n, size, vote_p(p, size), step_stops(vote_p(p, size), k, valid_rate, max_samples, flags, max_work=max_work)
        )
        for n, size in agent_groups(steps, m)
    )
    return JobStops(groups, flags, max_red_flags is None)


__all__ = [
    "AgentStops",
    "JobStops",
    "StepStops",
    "hopeful_step",
    "job_stops",
    "p_undecided",
    "race_stops",
    "step_stops",
]


# --------------------------------------------------------------------------- loss of hope

HOPE_WORK = 500_000  # state updates the loss-of-hope DP may take


def hopeful_step(p: float, k: int, valid_rate: float, cap: int, flags: int | None) -> tuple[float, float] | None:
    """(P(undecided), E[samples]) of one step as the engine runs it under a cap of `cap` samples
    (and the red-flag limit `flags`, None for none) **with loss of hope**, or None when the
    computation would take more than HOPE_WORK updates.

    A DP over the race's round boundaries, state (lead d, samples used s, red flags f): a round from
    lead d needs k - |d| valid votes (the engine's zero-waste round); if fewer samples than that are
    left under the cap no answer can win (loss of hope: the engine stops there, undecided, with s
    samples). Otherwise the round draws samples until it has its votes (r red flags on the way: a
    negative binomial), or the red-flag limit or the cap stops the step undecided. The votes' split
    is binomial(k - |d|, p) whatever r is. Red-flagged samples are counted as they come (the
    sequential semantics of the rest of this module: a round's samples still in flight when the
    red-flag limit is reached are not counted). P(undecided) equals the model without loss of hope
    (it stops only steps the cap would stop undecided); E[samples] is lower.
    """
    v = valid_rate
    u = 1.0 - v
    f_cap = flags if (flags is not None and v < 1.0) else None
    work = 0
    binoms = [[math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in range(n + 1)] for n in range(k + 1)]
    frontier: dict[tuple[int, int, int], float] = {(0, 0, 0): 1.0}
    undecided = samples = 0.0
    while frontier:
        nxt: dict[tuple[int, int, int], float] = {}
        for (d, used, f), mass in frontier.items():
            need = k - abs(d)
            left = cap - used
            if need > left:  # loss of hope
                undecided += mass
                samples += mass * used
                continue
            flags_left = None if f_cap is None else f_cap - f
            r_max = left - need if flags_left is None else min(left - need, flags_left - 1)
            done = 0.0
            for r in range(r_max + 1):  # the round completes after r red flags
                pr = math.comb(need - 1 + r, r) * v**need * u**r if r else v**need
                if pr < 1e-300:
                    break
                work += need + 1
                if work > HOPE_WORK:
                    return None
                done += pr
                for j, b in enumerate(binoms[need]):
                    if b == 0.0:
                        continue
                    after = d + 2 * j - need
                    if abs(after) >= k:
                        samples += mass * pr * b * (used + need + r)
                        continue
                    key = (after, used + need + r, f + r if f_cap is not None else 0)
                    nxt[key] = nxt.get(key, 0.0) + mass * pr * b
                ratio = u * (need + r) / (r + 1)  # pr(r + 1) / pr(r), falling in r: below 1 past the mode
                if ratio < 1.0 and mass * pr * ratio / (1.0 - ratio) < 1e-22:
                    break  # the tail past r (< 1e-22 of the step) is left to `rest`: stopped at the cap
            rest = max(0.0, 1.0 - done)
            if rest > 0.0:  # stopped undecided inside the round: by the red-flag limit or the cap
                undecided += mass * rest
                samples += mass * (rest * used + _stop_samples(need, left, flags_left, v, u, rest))
        frontier = {key: m for key, m in nxt.items() if m > 1e-18}
    return undecided, samples


def _stop_samples(need: int, left: int, flags_left: int | None, v: float, u: float, rest: float) -> float:
    """E[samples drawn by the round, times P] when it stops undecided inside the round (probability
    `rest`): at the flags_left-th red flag (fewer than `need` valid before it, within the cap), else
    at the cap (all `left` samples drawn)."""
    by_flags = expected = 0.0
    if flags_left is not None:
        for x in range(need):  # x valid samples before the last allowed red flag
            t = flags_left + x
            if t > left:
                break
            pr = math.comb(t - 1, x) * u**flags_left * v**x
            by_flags += pr
            expected += pr * t
    return expected + max(0.0, rest - by_flags) * left
