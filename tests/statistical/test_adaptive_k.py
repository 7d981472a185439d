"""Adaptive k on simulated races: the bound covers the true p as often as its level says, the
estimate is unbiased enough, and whole jobs keep their target at fewer samples than a fixed k
from a pessimistic p."""

from __future__ import annotations

import math
import random

import pytest

from maker_cli.core import maths
from maker_cli.core.adaptive import AdaptiveK


def race(rng: random.Random, p: float, k: int) -> tuple[dict[str, int], bool]:
    right = wrong = 0
    while abs(right - wrong) < k:
        if rng.random() < p:
            right += 1
        else:
            wrong += 1
    return {"right": right, "wrong": wrong}, right > wrong


@pytest.mark.parametrize("p", [0.7, 0.9, 0.99])
def test_the_bound_covers_the_true_p(p):
    """Over 300 short runs (40 steps, votes at the k adaptive k chooses), p_low exceeds the true p
    in at most the level's share of runs (2.5%; allowed: 4.5%, a binomial tail of about 1e-2)."""
    rng = random.Random(int(p * 1000))
    over, estimates = 0, []
    for _ in range(300):
        a = AdaptiveK(40)
        for _ in range(40):
            a.observe(race(rng, p, a.next_k())[0])
        p_hat, p_low = a.estimate()
        over += p_low > p
        estimates.append(p_hat)
    assert over <= 0.045 * 300, over
    mean = sum(estimates) / len(estimates)
    assert mean == pytest.approx(p, abs=0.01)


def test_a_job_keeps_its_target_with_fewer_votes_than_a_pessimistic_fixed_k():
    """120 jobs of 300 steps at p = 0.95, started from a pessimistic p = 0.7: every job right at a
    rate at least the target's (0.95, less two standard errors), and fewer votes than k_min(0.7) needs."""
    p, steps, jobs = 0.95, 300, 120
    rng = random.Random(7)
    fixed_k = maths.k_min(0.7, steps, 0.95)
    ok = votes = fixed_votes = 0
    for _ in range(jobs):
        a = AdaptiveK(steps, prior_p=0.7)
        good = True
        for _ in range(steps):
            tallies, right = race(rng, p, a.next_k())
            a.observe(tallies)
            votes += sum(tallies.values())
            good &= right
        ok += good
    for _ in range(20):
        fixed_votes += sum(sum(race(rng, p, fixed_k)[0].values()) for _ in range(steps))
    fixed_votes *= jobs / 20
    assert ok / jobs >= 0.95 - 2 * math.sqrt(0.95 * 0.05 / jobs)
    assert votes < 0.6 * fixed_votes, (votes, fixed_votes)
