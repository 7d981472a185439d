"""Confidence intervals for measured proportions (p, valid rate)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

from pydantic import BaseModel

WILSON = "wilson"


def z_for(confidence: float) -> float:
    """Two-sided normal quantile, e.g. 1.95996 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there are no trials.

    Good coverage even near 0 and 1 and for small n, unlike the normal (Wald) interval.
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError("need 0 <= successes <= trials")
    if trials == 0:
        return 0.0, 1.0
    z = z_for(confidence)
    n = trials
    phat = successes / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    if successes == 0:
        low = 0.0
    if successes == n:
        high = 1.0
    return low, high


class Proportion(BaseModel):
    """p = correct / valid with its Wilson interval (p None without trials)."""

    p: float | None
    p_ci: tuple[float, float]
    correct: int
    valid: int

    @classmethod
    def of(cls, correct: int, valid: int, confidence: float = 0.95) -> Proportion:
        return cls(
            p=correct / valid if valid else None,
            p_ci=wilson_interval(correct, valid, confidence),
            correct=correct,
            valid=valid,
        )


# Tables whose probability is within this relative tolerance of the observed one count as "as extreme"
# (R's fisher.test uses 1 + 1e-7), so exact ties are not lost to rounding.
FISHER_RELATIVE_TOLERANCE = 1e-7


def fisher_exact(a_correct: int, a_trials: int, b_correct: int, b_trials: int) -> float:
    """Two-sided p-value of Fisher's exact test that two binomial proportions are equal.

    The 2x2 table is [[a_correct, a_trials - a_correct], [b_correct, b_trials - b_correct]]. The test
    is conditional: given both margins (the trials of each sample and the total correct), the count
    a_correct is hypergeometric under the null hypothesis. The two-sided p-value follows the
    probability-ordering rule: it is the total probability of every table no more likely than the
    observed one, with a relative tolerance of FISHER_RELATIVE_TOLERANCE (1e-7, as in R's fisher.test;
    SciPy uses the same rule with a tighter tolerance) so tables tied with the observed one in exact
    arithmetic are counted despite rounding.

    It is used to compare the p (per-step success rate) of two prompts measured on the same probe
    steps. The test assumes two independent samples; the shared steps positively correlate the two
    estimates (a hard step tends to fail under both prompts), which makes their difference less
    variable than the test assumes, so the test is conservative there: its p-values are, if anything,
    too large.

    Returns 1.0 when either sample has no trials or every outcome is the same (all correct or all
    wrong), where the table carries no evidence. Probabilities are summed in log space (lgamma, then
    log-sum-exp), so it stays accurate and linear in the support size for ~100,000 trials per side.
    """
    for name, correct, trials in (("a", a_correct, a_trials), ("b", b_correct, b_trials)):
        if not 0 <= correct <= trials:
            raise ValueError(f"need 0 <= {name}_correct <= {name}_trials, got {correct} of {trials}")
    total = a_trials + b_trials
    correct_total = a_correct + b_correct
    wrong_total = total - correct_total
    if a_trials == 0 or b_trials == 0 or correct_total == 0 or wrong_total == 0:
        return 1.0
    lgamma = math.lgamma

    def log_weight(x: int) -> float:
        # log of C(correct_total, x) * C(wrong_total, a_trials - x) up to a constant shared by all
        # tables with these margins (it cancels in the normalization below)
        return -(
            lgamma(x + 1)
            + lgamma(correct_total - x + 1)
            + lgamma(a_trials - x + 1)
            + lgamma(wrong_total - a_trials + x + 1)
        )

    low = max(0, a_trials - wrong_total)
    high = min(a_trials, correct_total)
    weights = [log_weight(x) for x in range(low, high + 1)]
    cutoff = weights[a_correct - low] + math.log1p(FISHER_RELATIVE_TOLERANCE)
    as_extreme = [w for w in weights if w <= cutoff]
    p = math.exp(_log_sum_exp(as_extreme) - _log_sum_exp(weights))
    return min(1.0, max(0.0, p))


def _log_sum_exp(values: Sequence[float]) -> float:
    """log(sum(exp(v))) without overflow or underflow of the largest terms (values not empty)."""
    top = max(values)
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    With m p-values sorted ascending p(1) <= ... <= p(m), the adjusted value of p(i) is
    max over j <= i of min(1, (m - j + 1) * p(j)): a step-down procedure that never lets a larger raw
    p-value get a smaller adjusted one. Rejecting every hypothesis whose adjusted p-value is <= alpha
    controls the family-wise error rate at alpha under any dependence between the tests, and is
    uniformly more powerful than plain Bonferroni.
    """
    m = len(p_values)
    for p in p_values:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-values must be in [0, 1], got {p}")
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
