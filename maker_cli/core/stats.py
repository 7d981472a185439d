"""Confidence intervals for measured proportions (p, valid rate)."""

from __future__ import annotations

import math
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
