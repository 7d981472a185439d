"""Do a model's errors correlate? The pair-collision test of `maker calibrate --pairs`.

Voting's maths assumes independent samples. Two samples per probe show whether wrong answers
coincide more often than independent errors allow; when they do, voting does worse than the
maths says (some steps are much harder than others).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, computed_field

ALPHA = 0.01
"""One-sided significance level of the pair-collision test."""


class PairStats(BaseModel):
    """Two samples per probe: do wrong answers collide more often than independent errors would give?

    The test uses the pairs in which both samples are valid. Given W wrong answers among those
    2N samples, independent errors with the same p at every probe place the wrong answers at random,
    so the number of both-wrong pairs X has an exact distribution (`both_wrong_tail`) with mean
    W(W-1) / (2(2N-1)), about N(1-p)^2. A collision (both wrong AND the same answer) needs both
    wrong, so under independence collisions <= X even in the worst case the maths assumes (every
    wrong answer to a probe is the same one); `expected_collisions` is that worst-case mean.
    `correlated` when collisions exceed it with a one-sided p-value below `alpha`.
    """

    pairs: int  # probes with both samples received
    both_valid: int  # pairs in which both samples passed the red flags
    wrong: int  # wrong answers among the 2 * both_valid samples
    both_wrong: int
    collisions: int  # both wrong with the same answer
    expected_collisions: float
    p_value: float
    alpha: float
    correlated: bool

    @computed_field  # type: ignore[prop-decorator]  # mypy refuses decorators over @property; pydantic's documented way
    @property
    def ratio(self) -> float | None:
        """Collisions against the worst-case expectation under independence."""
        return self.collisions / self.expected_collisions if self.expected_collisions > 0 else None


def pair_stats(outcomes: Iterable[Sequence[str | bool | None]], alpha: float = ALPHA) -> PairStats:
    """Collision statistics over probes sampled twice.

    Each outcome list holds, per sample: None (correct), False (red-flagged) or the wrong answer's
    key. Probes with fewer than two samples (a failed call) are skipped.
    """
    pairs = both_valid = wrong = both_wrong = collisions = 0
    for got in outcomes:
        if len(got) < 2:
            continue
        pairs += 1
        a, b = got[0], got[1]
        if a is False or b is False:
            continue
        both_valid += 1
        wrong += (a is not None) + (b is not None)
        if a is not None and b is not None:
            both_wrong += 1
            collisions += a == b
    expected = wrong * (wrong - 1) / (2 * (2 * both_valid - 1)) if both_valid else 0.0
    p_value = both_wrong_tail(both_valid, wrong, collisions)
    return PairStats(
        pairs=pairs,
        both_valid=both_valid,
        wrong=wrong,
        both_wrong=both_wrong,
        collisions=collisions,
        expected_collisions=expected,
        p_value=p_value,
        alpha=alpha,
        correlated=collisions > expected and p_value < alpha,
    )


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def both_wrong_tail(pairs: int, wrong: int, at_least: int) -> float:
    """P(X >= at_least): X = pairs with both samples wrong when `wrong` wrong samples fall at random
    among the 2 * `pairs` samples (independent errors, the same p for every pair).

    P(X = x) = C(N, x) C(N - x, W - 2x) 2^(W - 2x) / C(2N, W): x pairs fully wrong, W - 2x pairs
    with one wrong sample of their two.
    """
    n, w = pairs, wrong
    if at_least <= 0:
        return 1.0
    lo, hi = max(0, w - n), min(w // 2, n)
    if at_least > hi:
        return 0.0
    log_total = _log_comb(2 * n, w)
    tail = sum(
        math.exp(_log_comb(n, x) + _log_comb(n - x, w - 2 * x) + (w - 2 * x) * math.log(2) - log_total)
        for x in range(max(at_least, lo), hi + 1)
    )
    return min(1.0, tail)
