"""Wilson intervals: known values and coverage."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maker_cli.core.stats import wilson_interval


def test_known_value():
    low, high = wilson_interval(81, 263)  # Wikipedia-style worked example
    assert low == pytest.approx(0.2553, abs=1e-3) and high == pytest.approx(0.3662, abs=1e-3)


@given(st.integers(0, 500), st.integers(1, 500))
def test_interval_holds_the_estimate(s, n):
    s = min(s, n)
    low, high = wilson_interval(s, n)
    assert 0 <= low <= s / n <= high <= 1


@pytest.mark.parametrize("p,n", [(0.9, 50), (0.99, 300), (0.7, 100)])
def test_coverage_over_many_seeds(p, n):
    rng = random.Random(1)
    trials = 2000
    covered = 0
    for _ in range(trials):
        s = sum(rng.random() < p for _ in range(n))
        low, high = wilson_interval(s, n)
        covered += low <= p <= high
    assert covered / trials > 0.92  # nominal 0.95; Wilson stays close
