"""Zero-waste parallel rounds: expected rounds and waves of calls per step. Pure, stdlib only."""

from __future__ import annotations

import math
from dataclasses import dataclass

from maker_cli.core.maths import MAX_WORK, TAIL


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
    # wins[n][j] = P(at least j of n votes correct): the mass of a round that reaches +k
    wins = []
    for b in binoms:
        at_least, acc = [0.0] * (len(b) + 1), 0.0
        for j in range(len(b) - 1, -1, -1):
            acc += b[j]
            at_least[j] = acc
        wins.append(at_least)
    waves = _waves_table(k, concurrency, valid_rate)
    size = 2 * k - 1
    cur = [0.0] * size
    cur[k - 1] = 1.0  # index = lead + k - 1
    rounds = total_waves = correct = 0.0
    alive = 1.0
    work = iterations = 0
    while alive >= tail:
        iterations += 1
        rounds += alive
        new = [0.0] * size
        for idx, mass in enumerate(cur):
            if mass == 0.0:
                continue
            lead = idx - (k - 1)
            n = k - abs(lead)
            total_waves += mass * waves[n]
            b = binoms[n]
            base = lead - n  # the lead after j correct votes of n is base + 2j
            j_lo = max(0, (-k - base) // 2 + 1)  # base + 2j > -k
            j_hi = min(n, (k - base + 1) // 2 - 1)  # base + 2j < k
            correct += mass * wins[n][j_hi + 1]
            if j_lo <= j_hi:
                start = base + 2 * j_lo + k - 1
                stop = base + 2 * j_hi + k
                new[start:stop:2] = [x + mass * y for x, y in zip(new[start:stop:2], b[j_lo : j_hi + 1], strict=True)]
            work += n + 1
        if work > max_work:
            return None
        cur = new
        before, alive = alive, sum(cur)
        if 0.0 < alive < before and work > max_work / 4:  # give up early when the rest cannot fit
            left = math.log(tail / alive) / math.log(alive / before) if alive > tail else 0.0
            if work + left * (work / iterations) > 2 * max_work:
                return None
    return RoundStats(rounds=rounds, waves=total_waves, p_correct=correct)
