"""The exact distributions of one race's valid votes that `maker runs report` draws: both methods
sum to 1, first-to-k ends within [k, 2k - 1] and picks the right answer as its own formula says,
and a Monte Carlo of the race lands on them."""

from __future__ import annotations

import math
import random

import pytest

from maker_cli.core.distributions import first_to_k_votes_pmf, votes_pmf


@pytest.mark.parametrize(("p", "k"), [(0.6, 1), (0.7, 3), (0.9, 5), (0.99, 8), (1.0, 4), (0.5, 3), (0.3, 2)])
def test_both_distributions_sum_to_one(p, k):
    first = first_to_k_votes_pmf(p, k)
    assert math.fsum(first.pmf) == pytest.approx(1.0, abs=1e-12) and first.undecided == 0.0
    assert all(x == 0.0 for x in first.pmf[:k]) and len(first.pmf) == 2 * k
    ahead = votes_pmf(p, k)
    assert math.fsum(ahead.pmf) + ahead.undecided == pytest.approx(1.0, abs=1e-12)


def test_first_to_k_picks_the_right_answer_as_its_formula_says():
    p, k = 0.7, 4
    right = sum(math.comb(k - 1 + j, j) * p**k * (1 - p) ** j for j in range(k))
    assert first_to_k_votes_pmf(p, k).p_correct == pytest.approx(right)


def test_a_monte_carlo_of_the_first_to_k_race_lands_on_its_distribution():
    p, k, n = 0.75, 3, 20_000
    rng = random.Random(11)
    counts = [0] * (2 * k)
    for _ in range(n):
        a = b = 0
        while a < k and b < k:
            if rng.random() < p:
                a += 1
            else:
                b += 1
        counts[a + b] += 1
    for votes, mass in enumerate(first_to_k_votes_pmf(p, k).pmf):
        se = math.sqrt(mass * (1 - mass) / n)
        assert abs(counts[votes] / n - mass) <= 5 * se + 1e-12, (votes, counts[votes] / n, mass)
